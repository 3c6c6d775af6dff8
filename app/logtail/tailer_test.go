package logtail

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"
)

const testInterval = 5 * time.Millisecond

func newTailer(t *testing.T) *Tailer {
	t.Helper()
	tl := New(slog.New(slog.NewTextHandler(io.Discard, nil)), WithInterval(testInterval))
	t.Cleanup(tl.Close)
	return tl
}

func subscribe(t *testing.T, tl *Tailer, backlog, buffer int, srcs ...Source) *Subscription {
	t.Helper()
	s, err := tl.Subscribe(backlog, buffer, srcs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func write(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

// batches reads batches from s until they hold at least n lines, failing
// the test after a few seconds.
func batches(t *testing.T, s *Subscription, n int) []Batch {
	t.Helper()
	var out []Batch
	got := 0
	timeout := time.After(5 * time.Second)
	for got < n {
		select {
		case b, ok := <-s.C:
			if !ok {
				t.Fatalf("subscription closed after %d of %d lines", got, n)
			}
			out = append(out, b)
			got += len(b.Lines)
		case <-timeout:
			t.Fatalf("got %d of %d lines: %+v", got, n, out)
		}
	}
	return out
}

// next returns the lines of the batches holding the next n lines.
func next(t *testing.T, s *Subscription, n int) []Line {
	t.Helper()
	var lines []Line
	for _, b := range batches(t, s, n) {
		lines = append(lines, b.Lines...)
	}
	return lines
}

func wantTexts(t *testing.T, lines []Line, want ...string) {
	t.Helper()
	got := make([]string, len(lines))
	for i, l := range lines {
		got[i] = l.Text
	}
	if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func quiet(t *testing.T, s *Subscription) {
	t.Helper()
	select {
	case l := <-s.C:
		t.Fatalf("unexpected line %+v", l)
	case <-time.After(10 * testInterval):
	}
}

func TestBacklogThenLiveLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app-1-stdout.log")
	write(t, path, "old 1\nold 2\nold 3\nold 4\n")
	tl := newTailer(t)
	s := subscribe(t, tl, 2, 10, Source{"app-1-stdout", path})
	if len(s.Backlog) != 1 || s.Backlog[0].Key != "app-1-stdout" || s.Backlog[0].Seq != 0 {
		t.Fatalf("backlog %+v", s.Backlog)
	}
	wantTexts(t, s.Backlog[0].Lines, "old 3", "old 4")
	quiet(t, s)
	write(t, path, "new 1\n\nnew 3\n")
	bs := batches(t, s, 3)
	if len(bs) != 1 || bs[0].Key != "app-1-stdout" || bs[0].Seq != 1 || s.Skipped(bs[0]) != 0 {
		t.Fatalf("batches %+v", bs)
	}
	wantTexts(t, bs[0].Lines, "new 1", "", "new 3")
	write(t, path, "new 4\n")
	if b := batches(t, s, 1)[0]; b.Seq != 4 || s.Skipped(b) != 0 {
		t.Fatalf("batch %+v", b)
	}
}

// Whenever a viewer arrives, its backlog and its first live line must meet
// exactly: nothing twice, nothing missing.
func TestBacklogMeetsLiveLinesUnderLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.log")
	write(t, path, "")
	tl := newTailer(t)
	subscribe(t, tl, 0, 1, Source{"busy", path}) // keeps the follower running

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			fmt.Fprintf(f, "n=%d\n", i)
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	defer func() { close(stop); <-done }()

	for range 20 {
		time.Sleep(3 * time.Millisecond)
		s, err := tl.Subscribe(5, 1000, Source{"busy", path})
		if err != nil {
			t.Fatal(err)
		}
		var last, first int
		if back := s.Backlog[0].Lines; len(back) > 0 {
			fmt.Sscanf(back[len(back)-1].Text, "n=%d", &last)
		} else {
			last = -1
		}
		fmt.Sscanf(next(t, s, 1)[0].Text, "n=%d", &first)
		s.Close()
		if first != last+1 {
			t.Fatalf("backlog ends at n=%d but live lines start at n=%d", last, first)
		}
	}
}

func TestRotationByRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	write(t, path, "before\n")
	s := subscribe(t, newTailer(t), 0, 10, Source{"app", path})
	write(t, path, "a\n")
	b := batches(t, s, 1)[0]
	s.Skipped(b)
	wantTexts(t, b.Lines, "a")

	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	write(t, path+".1", "late write to the old file\n")
	write(t, path, "c\nd\n")
	// The late write is read if it lands before the follower notices the
	// new file; either way the new file is read from its start.
	var lines []Line
	for len(lines) < 2 {
		for _, b := range batches(t, s, 1) {
			if s.Skipped(b) != 0 {
				t.Fatalf("Seq jumped at rotation: %+v", b)
			}
			for _, l := range b.Lines {
				if l.Text != "late write to the old file" {
					lines = append(lines, l)
				}
			}
		}
	}
	wantTexts(t, lines, "c", "d")
	write(t, path, "e\n")
	wantTexts(t, next(t, s, 1), "e")
}

func TestDeletedAndRecreated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	write(t, path, "x\n")
	s := subscribe(t, newTailer(t), 0, 10, Source{"app", path})
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	quiet(t, s) // several polls see the file missing
	write(t, path, "reborn 1\nreborn 2\n")
	wantTexts(t, next(t, s, 2), "reborn 1", "reborn 2")
}

func TestTruncatedInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	write(t, path, "")
	s := subscribe(t, newTailer(t), 0, 100, Source{"app", path})
	write(t, path, strings.Repeat("a long line before copytruncate\n", 20))
	next(t, s, 20)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	quiet(t, s)
	write(t, path, "after\n")
	wantTexts(t, next(t, s, 1), "after")
}

func TestFileThatAppearsLater(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not-yet.log")
	s := subscribe(t, newTailer(t), 100, 10, Source{"app", path})
	if len(s.Backlog[0].Lines) != 0 {
		t.Fatalf("backlog of a missing file: %+v", s.Backlog)
	}
	quiet(t, s)
	write(t, path, "first\nsecond\n")
	wantTexts(t, next(t, s, 2), "first", "second")
}

func TestHostileLinesPassThrough(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	write(t, path, "")
	s := subscribe(t, newTailer(t), 0, 10, Source{"app", path})
	raw := []string{"<script>alert(1)</script>", "\x1b[31mred\x1b[0m", "bad \xff\xfe bytes", "crlf\r"}
	write(t, path, strings.Join(raw, "\n")+"\n")
	lines := next(t, s, len(raw))
	wantTexts(t, lines, raw...)
	safe := []string{"<script>alert(1)</script>", "red", "bad \uFFFD\uFFFD bytes", "crlf"}
	for i, l := range lines {
		if got := Sanitize(l.Text); got != safe[i] {
			t.Errorf("Sanitize(%q) = %q, want %q", l.Text, got, safe[i])
		}
	}
}

func TestLongLinesAreSplit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	write(t, path, "")
	tl := newTailer(t)
	s := subscribe(t, tl, 0, 100, Source{"app", path})

	// 200 001 bytes: the odd start puts every 64 KiB boundary inside an "é".
	long := "x" + strings.Repeat("é", 100000)
	write(t, path, long+"\nshort\n")
	got := next(t, s, 5)
	wantTexts(t, got[4:], "short")
	var joined strings.Builder
	for i, l := range got[:4] {
		if len(l.Text) > MaxLineBytes || !utf8.ValidString(l.Text) || l.Cut != (i < 3) {
			t.Fatalf("piece %d: %d bytes, valid UTF-8 %v, cut %v", i, len(l.Text), utf8.ValidString(l.Text), l.Cut)
		}
		joined.WriteString(l.Text)
	}
	if joined.String() != long {
		t.Fatalf("pieces join to %d bytes, want %d", joined.Len(), len(long))
	}

	// A writer that never ends its line: full pieces go out as they fill,
	// the follower holds at most one piece, and that goes out as a line
	// once the writer is quiet.
	write(t, path, strings.Repeat("z", 10*MaxLineBytes))
	for i, l := range next(t, s, 9) {
		if len(l.Text) != MaxLineBytes || !l.Cut {
			t.Fatalf("piece %d: %d bytes, cut %v", i, len(l.Text), l.Cut)
		}
	}
	tl.mu.Lock()
	f := tl.followers["app"]
	tl.mu.Unlock()
	f.mu.Lock()
	held := len(f.partial)
	f.mu.Unlock()
	if held > MaxLineBytes {
		t.Fatalf("follower holds %d bytes of an unfinished line", held)
	}
	if l := next(t, s, 1); len(l) != 1 || len(l[0].Text) != MaxLineBytes || l[0].Cut {
		t.Fatalf("last piece %d bytes, cut %v", len(l[0].Text), l[0].Cut)
	}
}

func TestUnfinishedLineWaitsForItsNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	write(t, path, "done\nhalf a li")
	s := subscribe(t, newTailer(t), 10, 10, Source{"app", path})
	wantTexts(t, s.Backlog[0].Lines, "done") // the half line is not history yet
	if s.Skipped(s.Backlog[0]) != 0 {
		t.Fatal("a backlog batch reports skipped lines")
	}
	time.Sleep(2 * testInterval)
	write(t, path, "ne\n")
	wantTexts(t, next(t, s, 1), "half a line")

	write(t, path, "abc")
	time.Sleep(2 * testInterval)
	write(t, path, "def\n")
	wantTexts(t, next(t, s, 1), "abcdef")

	// A prompt or a crash mid-line: shown once the writer has gone quiet.
	write(t, path, "Password: ")
	wantTexts(t, next(t, s, 1), "Password: ")
}

func TestSlowViewerNeverSlowsTheReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "storm.log")
	write(t, path, "")
	tl := newTailer(t)
	const total = 100000
	fast := subscribe(t, tl, 0, 64, Source{"storm", path})
	never := subscribe(t, tl, 0, 16, Source{"storm", path}) // reads nothing during the storm
	late := subscribe(t, tl, 0, 16, Source{"storm", path})  // reads after the storm

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	// The fast viewer counts what it read plus what it was told it
	// skipped: all of it, once the reader has kept up.
	accounted := make(chan struct{})
	var read, skipped uint64
	go func() {
		defer close(accounted)
		for read+skipped < total {
			select {
			case b := <-fast.C:
				read += uint64(len(b.Lines))
				skipped += fast.Skipped(b)
			case <-time.After(20 * time.Millisecond):
				skipped += fast.Behind()
			}
		}
	}()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	var burst strings.Builder
	for i := range total {
		fmt.Fprintf(&burst, "2026-01-02T03:04:05Z [info] \x1b[32mGET /api/things/%d\x1b[0m 200 in 1ms\n", i)
		if i%1000 == 999 {
			f.WriteString(burst.String())
			burst.Reset()
		}
	}
	f.Close()
	select {
	case <-accounted:
		t.Logf("fast viewer read %d lines, was told of %d skipped", read, skipped)
	case <-time.After(10 * time.Second):
		t.Fatal("the reader did not keep up with the storm")
	}

	// About 7 MB went through; the two stuck viewers hold 16 batches each.
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew by %d KiB", grew>>10)
	if grew > 2*16*(blockSize+maxBatch*int64(unsafe.Sizeof(Line{})))+(1<<20) {
		t.Fatalf("heap grew by %d bytes during a %d-line storm", grew, total)
	}

	// The viewer that never read kept its 16 oldest batches. While they
	// wait it hears nothing; once it has read them it hears of the rest at
	// once, and the next line reports nothing twice.
	if len(never.C) != 16 {
		t.Fatalf("never-reading viewer holds %d batches", len(never.C))
	}
	if n := never.Behind(); n != 0 {
		t.Fatalf("Behind = %d with batches still waiting", n)
	}
	var held uint64
	for range 16 {
		b := <-never.C
		held += uint64(len(b.Lines))
		if n := never.Skipped(b); n != 0 {
			t.Fatalf("batch at %d reports %d skipped", b.Seq, n)
		}
	}
	if n := never.Behind(); n != total-held {
		t.Fatalf("Behind = %d, want %d", n, total-held)
	}
	// The late viewer reads its batches after the storm, then learns the
	// count where the gap is.
	var lateHeld uint64
	for range 16 {
		b := <-late.C
		lateHeld += uint64(len(b.Lines))
		late.Skipped(b)
	}
	write(t, path, "calm again\n")
	if b := batches(t, never, 1)[0]; never.Skipped(b) != 0 || b.Lines[0].Text != "calm again" {
		t.Fatalf("after Behind: %+v", b)
	}
	b := batches(t, late, 1)[0]
	if n := late.Skipped(b); n != total-lateHeld || b.Lines[0].Text != "calm again" {
		t.Fatalf("late viewer: %q after %d skipped, want %d", b.Lines[0].Text, n, total-lateHeld)
	}
	if n := late.Behind(); n != 0 {
		t.Fatalf("Behind after the gap was reported: %d", n)
	}
}

func TestOneReaderPerFile(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	write(t, a, "")
	write(t, b, "")
	tl := newTailer(t)
	base := runtime.NumGoroutine()

	var subs []*Subscription
	for range 10 {
		subs = append(subs, subscribe(t, tl, 0, 10, Source{"a", a}))
	}
	both := subscribe(t, tl, 0, 10, Source{"a", a}, Source{"b", b}, Source{"a", a})
	if n := len(tl.followers); n != 2 {
		t.Fatalf("%d followers for 2 files", n)
	}
	if n := runtime.NumGoroutine() - base; n != 2 {
		t.Fatalf("%d goroutines for 2 files", n)
	}
	if _, err := tl.Subscribe(0, 10, Source{"a", b}); err == nil {
		t.Fatal("a key with a second path must be refused")
	}
	if _, err := tl.Subscribe(0, 10); err == nil {
		t.Fatal("a subscription to nothing must be refused")
	}

	write(t, a, "to a\n")
	write(t, b, "to b\n")
	got := map[string]string{}
	for _, b := range batches(t, both, 2) {
		got[b.Key] = b.Lines[0].Text
	}
	if got["a"] != "to a" || got["b"] != "to b" {
		t.Fatalf("multi-file viewer got %v", got)
	}
	for _, s := range subs {
		wantTexts(t, next(t, s, 1), "to a")
		s.Close()
	}
	if n := len(tl.followers); n != 2 {
		t.Fatalf("%d followers while one viewer still watches both", n)
	}
	both.Close()
	both.Close()
	if n := len(tl.followers); n != 0 {
		t.Fatalf("%d followers left after every viewer left", n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine() - base; n > 0 {
		t.Fatalf("%d reader goroutines outlive their viewers", n)
	}
}

func TestCloseEndsEverySubscription(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	tl := New(slog.New(slog.NewTextHandler(io.Discard, nil)), WithInterval(testInterval))
	s, err := tl.Subscribe(0, 10, Source{"app", path})
	if err != nil {
		t.Fatal(err)
	}
	tl.Close()
	if _, ok := <-s.C; ok {
		t.Fatal("C must be closed by Tailer.Close")
	}
	s.Close()
	if _, err := tl.Subscribe(0, 10, Source{"app", path}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
}
