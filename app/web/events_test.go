package web_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"deployex/app/internal/testapp"
)

// readSSE collects events from /events until want returns true or the time runs out.
func readSSE(t *testing.T, a *testapp.App, c *testapp.Client, timeout time.Duration, want func(name, data string) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.URL+"/events", nil)
	stream := *c.Client
	stream.Timeout = 0
	resp, err := stream.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("events: %d %s", resp.StatusCode, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var name string
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data.WriteString(strings.TrimPrefix(line, "data: ") + "\n")
		case line == "":
			if name != "" && want(name, data.String()) {
				return
			}
			name = ""
			data.Reset()
		}
	}
	t.Fatalf("stream ended before the expected event: %v", ctx.Err())
}

func TestEventStreamCatchesUpOnConnect(t *testing.T) {
	a := testapp.Start(t, nil)
	c := a.Client(t)
	if r := c.Get("/events"); r.Status != http.StatusSeeOther {
		t.Fatalf("anonymous /events: %d, want the login redirect", r.Status)
	}
	c.MustLogin("admin", adminPass)
	seen := map[string]bool{}
	readSSE(t, a, c, 10*time.Second, func(name, data string) bool {
		if !strings.Contains(data, `id="`+name+`"`) {
			t.Fatalf("event %s carries no element with that id:\n%s", name, data)
		}
		seen[name] = true
		return seen["meta-myphoenixapp"] && seen["instance-myphoenixapp-1"] && seen["instance-myphoenixapp-3"]
	})
}
