package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// ent is one tar entry for a test archive. A size above len(body) declares
// more than the entry carries and ends the archive there (a bomb's header,
// or a truncated download).
type ent struct {
	name  string
	typ   byte
	mode  int64
	body  string
	link  string
	size  int64
	zeros int64 // body of this many zero bytes instead of body
}

func file(name, body string, mode int64) ent {
	return ent{name: name, typ: tar.TypeReg, mode: mode, body: body}
}
func dir(name string, mode int64) ent { return ent{name: name, typ: tar.TypeDir, mode: mode} }
func symlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}
func hardlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeLink, link: target, mode: 0o644}
}

// tarGz builds a gzipped tar in memory. Entries are written raw, bypassing
// the sanity a real tar tool would apply, because hostile archives are the point.
func tarGz(t testing.TB, entries ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	writeTar(t, zw, entries)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarBytes is the uncompressed archive.
func tarBytes(t testing.TB, entries ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	writeTar(t, &buf, entries)
	return buf.Bytes()
}

func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeTar stops inside an entry whose declared size exceeds its body.
func writeTar(t testing.TB, w io.Writer, entries []ent) {
	t.Helper()
	tw := tar.NewWriter(w)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Format: tar.FormatPAX}
		switch {
		case e.size > 0:
			hdr.Size = e.size
		case e.zeros > 0:
			hdr.Size = e.zeros
		case e.typ == tar.TypeReg:
			hdr.Size = int64(len(e.body))
		}
		if e.typ == tar.TypeChar || e.typ == tar.TypeBlock {
			hdr.Devmajor, hdr.Devminor = 1, 3
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		var err error
		if e.zeros > 0 {
			_, err = io.CopyN(tw, zeroReader{}, e.zeros)
		} else {
			_, err = io.WriteString(tw, e.body)
		}
		if err != nil {
			t.Fatalf("tar body %q: %v", e.name, err)
		}
		if e.size > int64(len(e.body)) {
			return // the entry is short on purpose: end the stream inside it
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func writeTemp(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "release.tar.gz")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
