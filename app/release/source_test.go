package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fixture is one adapter over its store (a folder or an in-process fake
// reached over real HTTP), with a way to write objects behind its back.
type fixture struct {
	src  Source
	name string // what src.String() says
	put  func(t testing.TB, key string, data []byte)
	// served counts the object-content bytes the store has sent, so
	// conditional reads can be shown to cost nothing; sent counts every
	// response byte, metadata included. Both nil for the local folder.
	served, sent *counter
}

// testTimeouts keep failure tests fast while leaving room on a busy 2-core runner.
var testTimeouts = timeouts{op: 1500 * time.Millisecond, download: 5 * time.Second, stall: 400 * time.Millisecond, dial: 300 * time.Millisecond, header: 400 * time.Millisecond}

// testSource runs the behaviour every adapter must share.
func testSource(t *testing.T, fx fixture) {
	ctx := context.Background()
	currentKey := "versions/myapp/prod/current.json"
	if got := fx.src.String(); got != fx.name {
		t.Errorf("String() = %q, want %q", got, fx.name)
	}

	t.Run("missing current.json is not found", func(t *testing.T) {
		_, err := fx.src.ReadCurrent(ctx, "myapp", "")
		assertKind(t, err, ErrNotFound, currentKey)
	})

	t.Run("conditional reads", func(t *testing.T) {
		v1 := []byte(`{"version":"1.0.0","hash":"a"}`)
		fx.put(t, currentKey, v1)
		first, err := fx.src.ReadCurrent(ctx, "myapp", "")
		if err != nil || string(first.Body) != string(v1) || first.Tag == "" {
			t.Fatalf("got %q tag %q, %v", first.Body, first.Tag, err)
		}
		before := fx.served.load()
		for range 5 {
			if _, err := fx.src.ReadCurrent(ctx, "myapp", first.Tag); !errors.Is(err, ErrNotModified) {
				t.Fatalf("unchanged file: got %v, want ErrNotModified", err)
			}
		}
		if got := fx.served.load() - before; got != 0 {
			t.Fatalf("idle polls downloaded %d body bytes", got)
		}
		// Same length, new content: must be seen even within one mtime tick.
		v2 := []byte(`{"version":"1.0.1","hash":"a"}`)
		fx.put(t, currentKey, v2)
		second, err := fx.src.ReadCurrent(ctx, "myapp", first.Tag)
		if err != nil || string(second.Body) != string(v2) || second.Tag == first.Tag {
			t.Fatalf("changed file: got %q tag %q (was %q), %v", second.Body, second.Tag, first.Tag, err)
		}
	})

	t.Run("oversized current.json is cut at the limit plus one", func(t *testing.T) {
		fx.put(t, "versions/big/prod/current.json", []byte(strings.Repeat(" ", MaxCurrentBytes+100)))
		f, err := fx.src.ReadCurrent(ctx, "big", "")
		if err != nil || len(f.Body) != MaxCurrentBytes+1 {
			t.Fatalf("got %d bytes, %v", len(f.Body), err)
		}
		if _, err := ParseCurrent(f.Body); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("parse: %v", err)
		}
	})

	t.Run("download", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "myapp-1.0.0.tar.gz")
		_, err := fx.src.Download(ctx, "myapp", "1.0.0", path)
		assertKind(t, err, ErrNotFound, "dist/myapp/myapp-1.0.0.tar.gz")
		assertOnlyFiles(t, dir)

		data := tarGz(t, file("bin/myapp", "#!/bin/sh\n", 0o755))
		fx.put(t, "dist/myapp/myapp-1.0.0.tar.gz", data)
		a, err := fx.src.Download(ctx, "myapp", "1.0.0", path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		got, _ := os.ReadFile(path)
		if a.Path != path || a.Size != int64(len(data)) || a.SHA256 != hex.EncodeToString(sum[:]) || string(got) != string(data) || a.Tag == "" {
			t.Fatalf("got %+v", a)
		}
		assertOnlyFiles(t, dir, "myapp-1.0.0.tar.gz")

		info, err := fx.src.Stat(ctx, "myapp", "1.0.0")
		if err != nil || info.Tag != a.Tag || info.Size != a.Size {
			t.Fatalf("stat %+v, %v; download tag %q", info, err, a.Tag)
		}
		fx.put(t, "dist/myapp/myapp-1.0.0.tar.gz", tarGz(t, file("bin/myapp", "#!/bin/sh\nexit 1\n", 0o755)))
		if info2, err := fx.src.Stat(ctx, "myapp", "1.0.0"); err != nil || info2.Tag == info.Tag {
			t.Fatalf("replaced object: stat %+v, %v; old tag %q", info2, err, info.Tag)
		}
		_, err = fx.src.Stat(ctx, "myapp", "9.9.9")
		assertKind(t, err, ErrNotFound, "dist/myapp/myapp-9.9.9.tar.gz")
	})

	t.Run("download over the size cap", func(t *testing.T) {
		bs := fx.src.(*bucketSource)
		defer func(old int64) { bs.maxDownload = old }(bs.maxDownload)
		bs.maxDownload = 100
		fx.put(t, "dist/myapp/myapp-2.0.0.tar.gz", make([]byte, 101))
		dir := t.TempDir()
		_, err := fx.src.Download(ctx, "myapp", "2.0.0", filepath.Join(dir, "t.tar.gz"))
		assertKind(t, err, ErrTooLarge, "myapp-2.0.0.tar.gz")
		assertOnlyFiles(t, dir)
	})

	t.Run("versions", func(t *testing.T) {
		for _, key := range []string{
			"dist/lister/lister-1.0.0.tar.gz",
			"dist/lister/lister-1.1.0-rc.1.tar.gz",
			"dist/lister/lister-2.0.0.tar.gz.sha256", // not a tarball
			"dist/lister/lister-bad;v.tar.gz",        // not a valid version
			"dist/lister/other-3.0.0.tar.gz",         // another app's name
			"dist/lister/old/lister-0.1.0.tar.gz",    // a sub-folder
			"dist/listerx/listerx-5.0.0.tar.gz",      // an app whose name extends this one
		} {
			fx.put(t, key, []byte("x"))
		}
		got, err := fx.src.Versions(ctx, "lister")
		if err != nil {
			t.Fatal(err)
		}
		var versions []string
		for _, p := range got {
			versions = append(versions, p.Version)
			if p.Tag == "" || p.Size != 1 || p.Modified.IsZero() {
				t.Errorf("incomplete %+v", p)
			}
		}
		slices.Sort(versions)
		if !slices.Equal(versions, []string{"1.0.0", "1.1.0-rc.1"}) {
			t.Fatalf("got %v", versions)
		}
		if none, err := fx.src.Versions(ctx, "nothing"); err != nil || len(none) != 0 {
			t.Fatalf("empty app: %v, %v", none, err)
		}
	})

	t.Run("bad arguments never reach the store", func(t *testing.T) {
		if _, err := fx.src.ReadCurrent(ctx, "../etc", ""); err == nil {
			t.Error("app name with .. accepted")
		}
		if _, err := fx.src.Download(ctx, "myapp", "1.0;rm -rf /", filepath.Join(t.TempDir(), "x")); err == nil {
			t.Error("bad version accepted")
		}
		if _, err := fx.src.Versions(ctx, "My App"); err == nil {
			t.Error("bad app name accepted")
		}
	})
}

func assertKind(t *testing.T, err, kind error, urlPart string) {
	t.Helper()
	var se *SourceError
	if !errors.As(err, &se) || !errors.Is(err, kind) || !strings.Contains(se.URL, urlPart) {
		t.Fatalf("got %v, want a SourceError of kind %v about %s", err, kind, urlPart)
	}
}

// assertOnlyFiles checks a download left no temporary files behind.
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) {
		t.Fatalf("%s holds %v, want %v", dir, got, names)
	}
}

// counter counts bytes written into response bodies.
type counter struct{ n atomic.Int64 }

func (c *counter) load() int64 {
	if c == nil {
		return 0
	}
	return c.n.Load()
}

// countBodies wraps a fake's handler: sent counts every response body byte,
// served only those of responses carrying object content (isContent).
func countBodies(h http.Handler, served, sent *counter, isContent func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w = countingWriter{ResponseWriter: w, c: sent}
		if isContent(r) {
			w = countingWriter{ResponseWriter: w, c: served}
		}
		h.ServeHTTP(w, r)
	})
}

// deniedServer answers every request with 403 and the given body.
func deniedServer(t *testing.T, contentType, body string) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, body)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

type countingWriter struct {
	http.ResponseWriter
	c *counter
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.c.n.Add(int64(n))
	return n, err
}

// closedPort returns an address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// hangingServer accepts requests and never answers them.
func hangingServer(t *testing.T) string {
	t.Helper()
	done := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() { close(done); ts.Close() })
	return ts.URL
}

// assertFailsFast checks that call fails as unreachable well within bound.
func assertFailsFast(t *testing.T, bound time.Duration, call func() error) {
	t.Helper()
	start := time.Now()
	err := call()
	elapsed := time.Since(start)
	t.Logf("%v after %v", err, elapsed.Round(time.Millisecond))
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	if elapsed > bound {
		t.Fatalf("took %v, want under %v", elapsed, bound)
	}
}
