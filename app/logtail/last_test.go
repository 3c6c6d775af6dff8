package logtail

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// naiveLast is the obvious definition Last must agree with: split the whole
// file, then cut long lines into pieces from their end.
func naiveLast(data string, n int) []string {
	if data == "" {
		return nil
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(data, "\n"), "\n") {
		var pieces []string
		for len(l) > MaxLineBytes {
			pieces = append(pieces, l[len(l)-MaxLineBytes:])
			l = l[:len(l)-MaxLineBytes]
		}
		pieces = append(pieces, l)
		slices.Reverse(pieces)
		out = append(out, pieces...)
	}
	return out[max(0, len(out)-n):]
}

type countingReader struct {
	r    *bytes.Reader
	read int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.read += int64(len(p))
	return c.r.ReadAt(p, off)
}

func TestLastMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fixed := []string{"", "\n", "\n\n", "a", "a\n", "\nb\n", "a\n\nb", strings.Repeat("x", 2*MaxLineBytes)}
	for i := range 30 {
		var data string
		if i < len(fixed) {
			data = fixed[i]
		} else {
			var b strings.Builder
			for range rng.IntN(1500) {
				switch rng.IntN(50) {
				case 0:
					b.WriteString(strings.Repeat("L", MaxLineBytes+rng.IntN(3*MaxLineBytes)))
				case 1:
				default:
					fmt.Fprintf(&b, "line %d %s", rng.Int(), strings.Repeat("=", rng.IntN(300)))
				}
				b.WriteByte('\n')
			}
			if rng.IntN(2) == 0 {
				b.WriteString("no newline at the end")
			}
			data = b.String()
		}
		for _, n := range []int{1, 2, 7, 200, 100000} {
			got, err := lastLines(strings.NewReader(data), int64(len(data)), n)
			if err != nil {
				t.Fatal(err)
			}
			if want := naiveLast(data, n); !slices.Equal(got, want) {
				t.Fatalf("case %d, n=%d: got %d lines, want %d (first difference near %q)", i, n, len(got), len(want), firstDiff(got, want))
			}
		}
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i][:min(40, len(a[i]))]
		}
	}
	return "(length)"
}

func TestLastReadsOnlyTheEnd(t *testing.T) {
	var b strings.Builder
	for i := range 500000 {
		fmt.Fprintf(&b, "2026-01-02 03:04:05.678 [info] request %d served in 3ms\n", i)
	}
	cr := &countingReader{r: bytes.NewReader([]byte(b.String()))}
	lines, err := lastLines(cr, cr.r.Size(), 200)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 200 || !strings.Contains(lines[199], "request 499999 ") || !strings.Contains(lines[0], "request 499800 ") {
		t.Fatalf("got %d lines: first %q last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	if cr.read > blockSize {
		t.Fatalf("read %d bytes of a %d-byte file for 200 short lines", cr.read, cr.r.Size())
	}
}

func TestLastOnAHugeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse gigabyte costs no disk; TestLastReadsOnlyTheEnd counts the bytes read.
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 2); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		fmt.Fprintf(f, "\nline %d", i)
	}
	f.WriteString("\n")
	f.Close()

	lines, err := Last(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 100 || lines[0] != "line 900" || lines[99] != "line 999" {
		t.Fatalf("got %d lines: %q … %q", len(lines), lines[0], lines[len(lines)-1])
	}

	if _, err := Last(filepath.Join(t.TempDir(), "missing.log"), 10); !os.IsNotExist(err) {
		t.Fatalf("missing file: err = %v", err)
	}
}
