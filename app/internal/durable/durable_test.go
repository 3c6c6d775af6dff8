package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestSyncFS(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SyncFS(dir); err != nil {
		t.Errorf("SyncFS: %v", err)
	}
	missing := filepath.Join(dir, "missing")
	if err := SyncFS(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncFS of a missing folder: %v", err)
	}
}
