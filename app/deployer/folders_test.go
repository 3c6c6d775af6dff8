package deployer

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestHotUpgradeFolders: the snapshot shares lib/ and erts-*/ with current/
// but owns the files release_handler rewrites in place; settleHot and restore
// leave the marker and folders truthful.
func TestHotUpgradeFolders(t *testing.T) {
	f := folders{t.TempDir()}
	for name, mode := range map[string]os.FileMode{
		"lib/a-1.0.0/ebin/a.beam": 0o644, "erts-13.1.5/bin/beam.smp": 0o755, "bin/a": 0o755,
		"releases/RELEASES": 0o644, "releases/start_erl.data": 0o644,
	} {
		p := filepath.Join(f.current(), name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(name), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(f.current(), versionFile), []byte("1.0.0\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a", filepath.Join(f.current(), "bin", "link")); err != nil {
		t.Fatal(err)
	}
	if err := f.snapshot(); err != nil {
		t.Fatal(err)
	}
	inode := func(dir, name string) uint64 {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	for name, shared := range map[string]bool{"lib/a-1.0.0/ebin/a.beam": true, "erts-13.1.5/bin/beam.smp": true,
		"bin/a": false, "releases/RELEASES": false, "releases/start_erl.data": false} {
		if got := inode(f.current(), name) == inode(f.preUpgrade(), name); got != shared {
			t.Errorf("%s shared with current/: %t, want %t", name, got, shared)
		}
	}
	if fi, err := os.Stat(filepath.Join(f.preUpgrade(), "bin", "a")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("bin/a in the snapshot: %v %v", fi, err)
	}
	if l, err := os.Readlink(filepath.Join(f.preUpgrade(), "bin", "link")); err != nil || l != "a" {
		t.Fatalf("symlink in the snapshot: %q %v", l, err)
	}

	// What release_handler does in place must not reach the snapshot.
	if err := os.WriteFile(filepath.Join(f.current(), "releases", "start_erl.data"), []byte("13.1.5 2.0.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.restore(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(f.current(), "releases", "start_erl.data")); string(b) != "releases/start_erl.data" {
		t.Fatalf("restore brought back %q", b)
	}

	if err := f.snapshot(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(f.new(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := f.settleHot("2.0.0"); err != nil {
		t.Fatal(err)
	}
	cur, _ := folderVersion(f.current())
	prev, _ := folderVersion(f.previous())
	if cur != "2.0.0" || prev != "1.0.0" {
		t.Fatalf("markers: current %q, previous %q", cur, prev)
	}
	for _, gone := range []string{f.new(), f.preUpgrade()} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Fatalf("%s left behind", gone)
		}
	}
}
