package web_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"deployex/app/internal/testapp"
)

// nasty is a line an app could print: markup, colours, a cursor move, an
// OSC title and bytes that are not UTF-8.
const nasty = "<script>alert(1)</script> \x1b[31mred\x1b[0m \x1b[2J\x1b]0;title\x07 bad:\xff\xfe end"

type sseEvent struct{ name, data string }

// openSSE reads the event stream at path in the background until the test
// ends; recv is given the client's socket options (nil for the defaults).
func openSSE(t *testing.T, a *testapp.App, c *testapp.Client, path string, recv func(fd uintptr)) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream := *c.Client
	stream.Timeout = 0
	if recv != nil {
		d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error { return rc.Control(recv) }}
		stream.Transport = &http.Transport{DialContext: d.DialContext}
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", a.URL+path, nil)
	resp, err := stream.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, ct)
	}
	// Unbuffered: while the test does not receive, the client stops reading.
	out := make(chan sseEvent)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			case line == "" && ev.name != "":
				ev.data = strings.Join(data, "\n")
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
				ev, data = sseEvent{}, nil
			}
		}
	}()
	return out
}

// expectEvent waits for an event named name whose data contains want.
func expectEvent(t *testing.T, events <-chan sseEvent, name, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("stream ended while waiting for %s with %q", name, want)
			}
			if ev.name == name && strings.Contains(ev.data, want) {
				return ev.data
			}
		case <-deadline:
			t.Fatalf("no %s event with %q within %s", name, want, timeout)
		}
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// logFile is where the supervisor writes replica n's stream of the default app.
func logFile(a *testapp.App, n int, stream string) string {
	return filepath.Join(a.Env["DEPLOYEX_LOG_DIR"], "myphoenixapp", fmt.Sprintf("myphoenixapp-%d-%s.log", n, stream))
}

// assertHarmless checks that the nasty line reached the page as text.
func assertHarmless(t *testing.T, where, html string) {
	t.Helper()
	if strings.Contains(html, "<script>alert") || strings.ContainsAny(html, "\x1b\x07") || !strings.Contains(html, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("%s: the line is not escaped and stripped:\n%q", where, html)
	}
	if !strings.Contains(html, "red") || !strings.Contains(html, "bad:\uFFFD\uFFFD end") || strings.Contains(html, "0;title") {
		t.Errorf("%s: colours, titles and invalid UTF-8 are not handled:\n%q", where, html)
	}
}

func TestLogPageShowsLastLinesSafelyToViewers(t *testing.T) {
	t.Parallel()
	a := testapp.Start(t, nil)
	admin := a.Client(t)
	admin.MustLogin("admin", adminPass)
	addUser(t, admin, "vic", "viewer")
	viewer := a.Client(t)
	viewer.MustLogin("vic", "vic-password")

	page := viewer.Get("/apps/myphoenixapp/instances/2/logs/stderr")
	if page.Status != 200 || !strings.Contains(page.Body, "no log file yet") {
		t.Fatalf("log page before the file exists: %d\n%s", page.Status, page.Body)
	}
	if r := viewer.Get("/apps/myphoenixapp/instances/2/logs/stderr/download"); r.Status != http.StatusNotFound {
		t.Fatalf("download of a missing file: %d", r.Status)
	}

	path := logFile(a, 2, "stderr")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var file strings.Builder
	for i := 1; i <= 250; i++ {
		fmt.Fprintf(&file, "line %d\n", i)
	}
	file.WriteString(nasty + "\n")
	appendFile(t, path, file.String())

	page = viewer.Get("/apps/myphoenixapp/instances/2/logs/stderr")
	if page.Status != 200 {
		t.Fatalf("log page: %d", page.Status)
	}
	if strings.Contains(page.Body, ">line 51</div>") || !strings.Contains(page.Body, ">line 52</div>") || !strings.Contains(page.Body, ">line 250</div>") {
		t.Errorf("the page must start with the last 200 lines:\n%s", page.Body)
	}
	assertHarmless(t, "log page", page.Body)
	if !strings.Contains(page.Body, `data-live="/apps/myphoenixapp/instances/2/logs/stderr/live"`) {
		t.Error("the page does not name its live stream")
	}

	dl := viewer.Get("/apps/myphoenixapp/instances/2/logs/stderr/download")
	if dl.Status != 200 || dl.Body != file.String() {
		t.Fatalf("download: %d, %d bytes, want the file's %d", dl.Status, len(dl.Body), file.Len())
	}
	if cd := dl.Header.Get("Content-Disposition"); cd != `attachment; filename="myphoenixapp-2-stderr.log"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	if ct := dl.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}

	for path, want := range map[string]int{
		"/apps/myphoenixapp/instances/4/logs/stdout":  404,
		"/apps/myphoenixapp/instances/x/logs/stdout":  404,
		"/apps/myphoenixapp/instances/1/logs/stdin":   404,
		"/apps/nope/instances/1/logs/stdout":          404,
		"/apps/myphoenixapp/instances/1/logs/../../x": 404,
		"/logs?app=nope":                     404,
		"/logs?app=myphoenixapp&stream=both": 404,
	} {
		if r := viewer.Get(path); r.Status != want {
			t.Errorf("GET %s: %d, want %d", path, r.Status, want)
		}
	}
	if r := a.Client(t).Get("/apps/myphoenixapp/instances/2/logs/stderr/download"); r.Status != http.StatusSeeOther {
		t.Errorf("anonymous download: %d, want the login redirect", r.Status)
	}
}

func TestLogStreamFollowsAppendTruncateAndDelete(t *testing.T) {
	t.Parallel()
	a := testapp.Start(t, nil)
	c := a.Client(t)
	c.MustLogin("admin", adminPass)
	path := logFile(a, 1, "stdout")
	os.MkdirAll(filepath.Dir(path), 0o755)
	appendFile(t, path, "before 1\nbefore 2\n")

	events := openSSE(t, a, c, "/apps/myphoenixapp/instances/1/logs/stdout/live", nil)
	reset := expectEvent(t, events, "reset", "before 2", 5*time.Second)
	if !strings.Contains(reset, ">before 1</div>") {
		t.Fatalf("reset lacks the backlog: %q", reset)
	}
	appendFile(t, path, nasty+"\n")
	assertHarmless(t, "live line", expectEvent(t, events, "lines", "alert", 5*time.Second))

	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // let the follower see the file shrink
	appendFile(t, path, "after truncate\n")
	expectEvent(t, events, "lines", "after truncate", 5*time.Second)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	appendFile(t, path, "after delete\n")
	expectEvent(t, events, "lines", "after delete", 5*time.Second)
}

func TestLogFollowPageLabelsEveryReplicaAndStream(t *testing.T) {
	t.Parallel()
	a := testapp.Start(t, nil)
	c := a.Client(t)
	c.MustLogin("admin", adminPass)
	for n := 1; n <= 3; n++ {
		for _, stream := range []string{"stdout", "stderr"} {
			os.MkdirAll(filepath.Dir(logFile(a, n, stream)), 0o755)
			appendFile(t, logFile(a, n, stream), fmt.Sprintf("old %d %s\n", n, stream))
		}
	}
	page := c.Get("/logs?app=myphoenixapp")
	if page.Status != 200 {
		t.Fatalf("/logs: %d", page.Status)
	}
	for n := 1; n <= 3; n++ {
		want := fmt.Sprintf(`myphoenixapp-%d stderr</span> old %d stderr`, n, n)
		if !strings.Contains(page.Body, want) {
			t.Errorf("follow page lacks %q", want)
		}
	}
	if strings.Contains(page.Body, "Download") {
		t.Error("a page following several files offers no single download")
	}

	events := openSSE(t, a, c, "/logs/live?app=myphoenixapp&stream=stderr", nil)
	reset := expectEvent(t, events, "reset", "old 3 stderr", 5*time.Second)
	if strings.Contains(reset, "stdout") {
		t.Errorf("stream=stderr follows stdout too: %q", reset)
	}
	appendFile(t, logFile(a, 2, "stdout"), "not followed\n")
	appendFile(t, logFile(a, 2, "stderr"), "new on two\n")
	got := expectEvent(t, events, "lines", "new on two", 5*time.Second)
	if !strings.Contains(got, "myphoenixapp-2 stderr</span> new on two") || strings.Contains(got, "not followed") {
		t.Errorf("live line: %q", got)
	}
}

// TestLogStreamTellsASlowViewerWhatItMissed has a client stop reading during
// a burst: the server must drop lines for it (not buffer them) and say how
// many it dropped once the client reads again.
func TestLogStreamTellsASlowViewerWhatItMissed(t *testing.T) {
	t.Parallel()
	a := testapp.Start(t, nil)
	c := a.Client(t)
	c.MustLogin("admin", adminPass)
	events := stalledLogStream(t, a, c, 3, 300_000)
	time.Sleep(2 * time.Second)
	expectEvent(t, events, "lines", "lines: this view fell behind", 20*time.Second)
}

// stalledLogStream follows replica n's stdout with a 4 KiB receive window,
// then appends a burst of lines while the test reads nothing: the reader
// goroutine blocks once its channel is full, and the small window then
// stops the server's writes.
func stalledLogStream(t *testing.T, a *testapp.App, c *testapp.Client, n, lines int) <-chan sseEvent {
	t.Helper()
	path := logFile(a, n, "stdout")
	os.MkdirAll(filepath.Dir(path), 0o755)
	appendFile(t, path, "start\n")
	smallWindow := func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) }
	events := openSSE(t, a, c, fmt.Sprintf("/apps/myphoenixapp/instances/%d/logs/stdout/live", n), smallWindow)
	expectEvent(t, events, "reset", "start", 5*time.Second)
	var burst strings.Builder
	for i := range lines {
		fmt.Fprintf(&burst, "burst line %06d %s\n", i, strings.Repeat("x", 40))
	}
	appendFile(t, path, burst.String())
	return events
}

// TestLogStreamDropsAClientThatNeverReads: a client that stops reading for
// good is disconnected once its socket has been full for the stall timeout,
// so it pins no goroutine, subscription or buffer; others are served on.
func TestLogStreamDropsAClientThatNeverReads(t *testing.T) {
	t.Parallel()
	a := testapp.Start(t, nil)
	c := a.Client(t)
	c.MustLogin("admin", adminPass)
	// More than the socket buffers hold (the server's is capped at 256 KiB),
	// so the server's writes do block.
	stuck := stalledLogStream(t, a, c, 2, 200_000)
	// Not reading for longer than the stall timeout, then reading what the
	// socket held: the stream must have been closed by the server.
	time.Sleep(13 * time.Second) // the server's stall timeout is 10 s
	select {
	case <-drain(stuck):
	case <-time.After(10 * time.Second):
		t.Fatal("the server still streams to a client that stopped reading")
	}
	other := openSSE(t, a, c, "/apps/myphoenixapp/instances/2/logs/stdout/live", nil)
	expectEvent(t, other, "reset", "burst line 199999", 5*time.Second)
}

// TestStreamsEndAtShutdown: open streams must not hold up deployex's exit
// (the web server would wait its 5 s grace period for them).
func TestStreamsEndAtShutdown(t *testing.T) {
	t.Parallel()
	a := testapp.Start(t, nil)
	c := a.Client(t)
	c.MustLogin("admin", adminPass)
	var streams []<-chan sseEvent
	for _, path := range []string{"/events", "/host/live", "/logs/live", "/apps/myphoenixapp/instances/1/logs/stdout/live"} {
		streams = append(streams, openSSE(t, a, c, path, nil))
	}
	var ended []<-chan struct{}
	for _, s := range streams {
		ended = append(ended, drain(s))
	}
	start := time.Now()
	if code := a.Stop(); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, a.Stderr)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %s with streams open", d)
	}
	for i, done := range ended {
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Errorf("stream %d still open after shutdown", i)
		}
	}
}

// drain closes its result once events ends.
func drain(events <-chan sseEvent) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for range events {
		}
		close(done)
	}()
	return done
}
