package logrotate

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"deployex/app/config"
)

// appender opens path the way a replica's stdout is opened.
func appender(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRotateKeepsCopiesAndTheWriterGoesOn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app-1-stdout.log")
	w := appender(t, path)
	for round := 1; round <= 4; round++ {
		w.WriteString(strings.Repeat(string(rune('a'+round-1)), 99) + "\n")
		if rotated, err := Rotate(path, 200, 2); err != nil || rotated {
			t.Fatalf("round %d under the limit: rotated %v, %v", round, rotated, err)
		}
		w.WriteString(strings.Repeat(string(rune('a'+round-1)), 199) + "\n")
		if rotated, err := Rotate(path, 200, 2); err != nil || !rotated {
			t.Fatalf("round %d over the limit: rotated %v, %v", round, rotated, err)
		}
		if got := read(t, path); got != "" {
			t.Fatalf("round %d: the file still holds %d bytes", round, len(got))
		}
	}
	// The replica's O_APPEND descriptor writes at the start of the emptied file.
	w.WriteString("after\n")
	if got := read(t, path); got != "after\n" {
		t.Errorf("after rotation the file holds %q", got)
	}
	// keep 2: the newest copy is .1 (round 4), then .2 (round 3); older ones went.
	if got := read(t, path+".1"); !strings.HasPrefix(got, "ddd") || len(got) != 300 {
		t.Errorf(".1 = %.10q… (%d bytes)", got, len(got))
	}
	if got := read(t, path+".2"); !strings.HasPrefix(got, "ccc") {
		t.Errorf(".2 = %.10q…", got)
	}
	for _, gone := range []string{".3", ".rotating"} {
		if _, err := os.Stat(path + gone); !os.IsNotExist(err) {
			t.Errorf("%s exists: %v", gone, err)
		}
	}
	if info, _ := os.Stat(path + ".1"); info.Mode().Perm() != 0o600 {
		t.Errorf(".1 mode %v, want 0600 like the log itself", info.Mode().Perm())
	}
}

func TestRotateWithoutCopiesAndMissingFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app-1-stderr.log")
	if rotated, err := Rotate(path, 10, 3); rotated || err != nil {
		t.Fatalf("missing file: %v, %v", rotated, err)
	}
	appender(t, path).WriteString(strings.Repeat("x", 20))
	if rotated, err := Rotate(path, 10, 0); !rotated || err != nil {
		t.Fatalf("keep 0: %v, %v", rotated, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || read(t, path) != "" {
		t.Errorf("keep 0 must only empty the file: %v", entries)
	}
}

// TestRunRotatesEveryReplicaStream drives the loop on a configuration.
func TestRunRotatesEveryReplicaStream(t *testing.T) {
	env := map[string]string{"DEPLOYEX_LOG_DIR": t.TempDir(), "DEPLOYEX_DATA_DIR": t.TempDir(),
		"DEPLOYEX_MONITORED_REPLICAS": "2", "DEPLOYEX_LOG_MAX_MB": "1", "DEPLOYEX_LOG_KEEP": "1"}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	name := cfg.Apps[0].Name
	big := cfg.LogFile(name, 2, "stderr")
	small := cfg.LogFile(name, 1, "stdout")
	os.MkdirAll(filepath.Dir(big), 0o750)
	appender(t, big).WriteString(strings.Repeat("e", 1<<20))
	appender(t, small).WriteString("short\n")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), 10*time.Millisecond)
	}()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(big + ".1"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the 1 MiB stderr file of replica 2 was not rotated")
		}
	}
	cancel()
	<-done
	if read(t, small) != "short\n" {
		t.Error("a small file was rotated")
	}
	if len(read(t, big+".1")) != 1<<20 {
		t.Error("the rotated copy is not whole")
	}
}
