package release

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"deployex/app/config"
)

var testLimits = Limits{MaxEntries: 100, MaxBytes: 1 << 20, MaxFileBytes: 512 << 10}

func TestUnpackGoodTarball(t *testing.T) {
	data := tarGz(t,
		ent{name: "pax_global_header", typ: tar.TypeXGlobalHeader},
		dir("./", 0o755),
		dir("./bin/", 0o755),
		file("./bin/app", "#!/bin/sh\necho hi\n", 0o755),
		file("./bin/setuid", "x", 0o4755),
		file("./lib/app-1.0/ebin/app.beam", "beam", 0o644), // parents implied
		file("./lib/app-1.0/priv/empty", "", 0o600),
		dir("./releases/", 0o750),
		file("./releases/1.0/start.boot", "boot", 0o444),
		symlink("./bin/current", "app"),
		symlink("./lib/app", "app-1.0"),
		symlink("./releases/1.0/ebin", "../../lib/app/ebin"),
		hardlink("./bin/app2", "./bin/app"),
		dir("./bin/", 0o755), // repeated directory entries are harmless
	)
	parent := t.TempDir()
	dest := filepath.Join(parent, "new")
	sum := sha256.Sum256(data)
	if err := Unpack(context.Background(), writeTemp(t, data), dest, strings.ToUpper(hex.EncodeToString(sum[:])), testLimits); err != nil {
		t.Fatal(err)
	}

	modes := map[string]fs.FileMode{
		"bin":                       fs.ModeDir | 0o755,
		"bin/app":                   0o755,
		"bin/setuid":                0o755,
		"lib/app-1.0":               fs.ModeDir | 0o755,
		"lib/app-1.0/ebin/app.beam": 0o644,
		"lib/app-1.0/priv/empty":    0o600,
		"releases":                  fs.ModeDir | 0o750,
		"releases/1.0/start.boot":   0o444,
		"bin/current":               fs.ModeSymlink,
		"lib/app":                   fs.ModeSymlink,
		"releases/1.0/ebin":         fs.ModeSymlink,
		"bin/app2":                  0o755,
		"lib/app-1.0/ebin":          fs.ModeDir | 0o755,
		"releases/1.0":              fs.ModeDir | 0o755,
		"lib":                       fs.ModeDir | 0o755,
		"lib/app-1.0/priv":          fs.ModeDir | 0o755,
		".":                         fs.ModeDir | 0o755,
	}
	for name, want := range modes {
		fi, err := os.Lstat(filepath.Join(dest, name))
		if err != nil {
			t.Fatal(err)
		}
		got := fi.Mode()
		if got&fs.ModeSymlink != 0 {
			got = fs.ModeSymlink
		}
		if got != want {
			t.Errorf("%s: mode %v, want %v", name, got, want)
		}
	}
	for name, want := range map[string]string{
		"bin/app":                    "#!/bin/sh\necho hi\n",
		"bin/current":                "#!/bin/sh\necho hi\n",
		"releases/1.0/ebin/app.beam": "beam",
	} {
		if b, err := os.ReadFile(filepath.Join(dest, name)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", name, b, err, want)
		}
	}
	a, _ := os.Stat(filepath.Join(dest, "bin/app"))
	b, _ := os.Stat(filepath.Join(dest, "bin/app2"))
	if !os.SameFile(a, b) {
		t.Error("bin/app2 is not a hard link to bin/app")
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Errorf("parent holds %v, want only new/", entries)
	}
}

func TestUnpackRefusesHostileTarballs(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(root, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(outside, "pwned")
	small := Limits{MaxEntries: 5, MaxBytes: 1000, MaxFileBytes: 600}

	cases := []struct {
		name    string
		entries []ent
		limits  Limits
		entry   string // the entry the error must name ("" for the archive)
		reason  string
	}{
		{"dotdot", []ent{file("../outside/pwned", "x", 0o644)}, testLimits, "../outside/pwned", `".." component`},
		{"dotdot inside a path", []ent{file("a/../../outside/pwned", "x", 0o644)}, testLimits, "a/../../outside/pwned", `".." component`},
		{"absolute path", []ent{file(abs, "x", 0o644)}, testLimits, abs, "absolute path"},
		{"symlink to absolute path", []ent{symlink("out", outside), file("out/pwned", "x", 0o644)}, testLimits, "out", "absolute path"},
		{"symlink up and out", []ent{symlink("out", "../outside"), file("out/pwned", "x", 0o644)}, testLimits, "out", "leaves the destination"},
		{"nested symlink up and out", []ent{dir("a/", 0o755), symlink("a/out", "../../outside")}, testLimits, "a/out", "leaves the destination"},
		{"write through a symlinked dir", []ent{dir("real/", 0o755), symlink("lnk", "real"), file("lnk/pwned", "x", 0o644)}, testLimits, "lnk/pwned", "parent \"lnk\" is a symlink"},
		{"symlink chain escaping through ..", []ent{dir("d/", 0o755), symlink("d/l1", ".."), symlink("l2", "d/l1/..")}, testLimits, "l2", "does not resolve inside"},
		{"write through a symlink chain", []ent{dir("d/", 0o755), symlink("d/l1", ".."), symlink("l2", "d/l1/.."), file("l2/outside/pwned", "x", 0o644)}, testLimits, "l2/outside/pwned", "is a symlink"},
		{"file over a symlink", []ent{file("target", "x", 0o644), symlink("f", "target"), file("f", "y", 0o644)}, testLimits, "f", "clashes with an earlier entry"},
		{"dangling symlink", []ent{symlink("nowhere", "missing/file")}, testLimits, "nowhere", "does not resolve inside"},
		{"hardlink out", []ent{hardlink("hl", "../outside/secret")}, testLimits, "hl", `".." component`},
		{"hardlink to absolute path", []ent{hardlink("hl", filepath.Join(outside, "secret"))}, testLimits, "hl", "absolute path"},
		{"hardlink to a symlink", []ent{file("x", "x", 0o644), symlink("s", "x"), hardlink("hl", "s")}, testLimits, "hl", "not a regular file earlier"},
		{"hardlink to a later file", []ent{hardlink("hl", "x"), file("x", "x", 0o644)}, testLimits, "hl", "not a regular file earlier"},
		{"char device", []ent{{name: "dev/null", typ: tar.TypeChar, mode: 0o666}}, testLimits, "dev/null", "device files"},
		{"block device", []ent{{name: "sda", typ: tar.TypeBlock, mode: 0o660}}, testLimits, "sda", "device files"},
		{"fifo", []ent{{name: "pipe", typ: tar.TypeFifo, mode: 0o644}}, testLimits, "pipe", "fifos"},
		{"unknown type (tar has no socket type)", []ent{{name: "sock", typ: 'Z', mode: 0o644}}, testLimits, "sock", "unsupported entry type"},
		{"file under a file", []ent{file("a", "1", 0o644), file("a/b", "2", 0o644)}, testLimits, "a/b", `parent "a" clashes`},
		{"duplicate file", []ent{file("a", "1", 0o644), file("a", "2", 0o644)}, testLimits, "a", "clashes with an earlier entry"},
		{"file named like the destination", []ent{file(".", "x", 0o644)}, testLimits, ".", "only a directory"},
		{"too many files", manyFiles(6), small, "f5", "more than 5 files"},
		{"too many implied directories", []ent{file("a/b/c/d/e/f", "x", 0o644)}, small, "a/b/c/d/e/f", "more than 5 files"},
		{"too many bytes", []ent{file("a", strings.Repeat("a", 600), 0o644), file("b", strings.Repeat("b", 600), 0o644)}, small, "b", "more than 1000 bytes"},
		{"file over the per-file cap", []ent{file("a", strings.Repeat("a", 700), 0o644)}, small, "a", "more than the 600 allowed for one file"},
		{"bomb announcing a huge size", []ent{{name: "bomb", typ: tar.TypeReg, mode: 0o644, size: 1 << 40, body: "tiny"}}, testLimits, "bomb", "allowed for one file"},
		{"bomb of zeros", []ent{{name: "zeros", typ: tar.TypeReg, mode: 0o644, zeros: 64 << 20}}, Limits{MaxEntries: 10, MaxBytes: 8 << 20, MaxFileBytes: 128 << 20}, "zeros", "more than 8388608 bytes"},
		{"truncated archive", []ent{file("ok", "fine", 0o644), {name: "cut", typ: tar.TypeReg, mode: 0o644, size: 1000, body: "short"}}, testLimits, "cut", "corrupt archive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tarball := writeTemp(t, tarGz(t, tc.entries...))
			assertRefused(t, root, tarball, "", tc.limits, tc.entry, tc.reason)
		})
	}

	t.Run("sha256 mismatch", func(t *testing.T) {
		tarball := writeTemp(t, tarGz(t, file("a", "x", 0o644)))
		assertRefused(t, root, tarball, strings.Repeat("0", 64), testLimits, "", "sha256 of the tarball is")
	})
	t.Run("not gzip", func(t *testing.T) {
		assertRefused(t, root, writeTemp(t, []byte("plain text, not a tarball")), "", testLimits, "", "not a gzip stream")
	})
	t.Run("garbage after the gzip stream", func(t *testing.T) {
		data := tarGz(t, file("a", "x", 0o644))
		assertRefused(t, root, writeTemp(t, append(data, 0xde, 0xad)), "", testLimits, "", "corrupt archive")
	})
	t.Run("megabytes after the end of the archive", func(t *testing.T) {
		tarball := writeTemp(t, gzipped(t, append(tarBytes(t, file("a", "x", 0o644)), make([]byte, 2<<20)...)))
		assertRefused(t, root, tarball, "", testLimits, "", "after the end of the archive")
	})
}

func manyFiles(n int) []ent {
	var es []ent
	for i := range n {
		es = append(es, file(fmt.Sprintf("f%d", i), "x", 0o644))
	}
	return es
}

// assertRefused unpacks into root/svc/new and checks the refusal names the
// entry and reason, that no partial destination is left, and that nothing
// anywhere under root changed.
func assertRefused(t *testing.T, root, tarball, sha string, lim Limits, entry, reason string) {
	t.Helper()
	parent := filepath.Join(root, "svc")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	err := Unpack(context.Background(), tarball, filepath.Join(parent, "new"), sha, lim)
	var ue *UnpackError
	if !errors.As(err, &ue) || !errors.Is(err, ErrRefused) {
		t.Fatalf("got %v, want an UnpackError", err)
	}
	t.Log(err)
	if ue.Entry != entry || !strings.Contains(err.Error(), reason) {
		t.Errorf("got entry %q, error %q; want entry %q and %q", ue.Entry, err, entry, reason)
	}
	if after := snapshot(t, root); after != before {
		t.Errorf("the tree changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// snapshot lists every path under root with its type, mode, size and link
// target; equal snapshots mean nothing was created, removed or rewritten.
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var b bytes.Buffer
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link, _ := os.Readlink(p)
		fmt.Fprintf(&b, "%s %v %d %s\n", p, fi.Mode(), fi.Size(), link)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestUnpackDestinationMustNotExist(t *testing.T) {
	dest := t.TempDir()
	keep := filepath.Join(dest, "keep")
	os.WriteFile(keep, []byte("x"), 0o644)
	err := Unpack(context.Background(), writeTemp(t, tarGz(t, file("a", "x", 0o644))), dest, "", testLimits)
	if err == nil || errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("got %v, want an 'already exists' error that is not a refusal", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatal("the existing destination was touched")
	}
}

func TestUnpackStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	parent := t.TempDir()
	err := Unpack(ctx, writeTemp(t, tarGz(t, file("a", "x", 0o644))), filepath.Join(parent, "new"), "", testLimits)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("left %v behind", entries)
	}
}

// A failing filesystem is not the archive's fault: it must not read as a
// refusal, or the deployer would never retry once the disk is fixed.
func TestUnpackFilesystemErrorIsNotARefusal(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notADir, nil, 0o644)
	err := Unpack(context.Background(), writeTemp(t, tarGz(t, file("a", "x", 0o644))), filepath.Join(notADir, "new"), "", testLimits)
	if err == nil || errors.Is(err, ErrRefused) || !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("got %v, want ENOTDIR that is not a refusal", err)
	}
}

func TestLimitsFrom(t *testing.T) {
	got := LimitsFrom(&config.Config{UnpackMaxFiles: 7, UnpackMaxBytes: 3 << 30})
	if got != (Limits{MaxEntries: 7, MaxBytes: 3 << 30, MaxFileBytes: 1 << 30}) {
		t.Fatalf("got %+v", got)
	}
	if small := LimitsFrom(&config.Config{UnpackMaxFiles: 1, UnpackMaxBytes: 10}); small.MaxFileBytes != 10 {
		t.Fatalf("per-file cap %d above the total", small.MaxFileBytes)
	}
}
