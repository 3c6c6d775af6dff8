package filecopy

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFile(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := os.WriteFile(src, []byte("release bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, []byte("an older, longer content"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := File(src, dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "release bytes" {
		t.Errorf("dst holds %q", b)
	}
	if err := File(filepath.Join(dir, "missing"), filepath.Join(dir, "other"), 0o644); !os.IsNotExist(err) {
		t.Errorf("missing source: %v", err)
	}
	if err := File(src, filepath.Join(dir, "no", "such", "dir"), 0o644); err == nil {
		t.Error("a destination in a missing folder was accepted")
	}
}
