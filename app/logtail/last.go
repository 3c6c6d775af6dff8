package logtail

import (
	"bytes"
	"io"
	"os"
	"slices"
)

// blockSize is how much Last reads per step backwards from the end.
const blockSize = 64 << 10

// Last returns the last n lines of the file at path, oldest first, without
// their newlines. It reads backwards from the end, so its cost depends on n
// and the length of those lines, never on the size of the file. A final line
// without a newline counts as a line. A line longer than MaxLineBytes comes
// back as pieces of at most that size, counted from its end.
func Last(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return lastLines(f, st.Size(), n)
}

// lastLines returns the last n lines of r[0:end], oldest first.
func lastLines(r io.ReaderAt, end int64, n int) ([]string, error) {
	var (
		out []string // newest first
		// buf holds r[pos:] up to the end of the newest line not yet in out.
		buf []byte
		pos = end
		// cut: the bytes at the end of buf belong to a line whose end was
		// already emitted as a piece, so an empty rest is no line of its own.
		cut bool
	)
loop:
	for len(out) < n {
		i := bytes.LastIndexByte(buf, '\n')
		switch {
		case len(buf)-(i+1) > MaxLineBytes:
			j := pieceStart(buf, MaxLineBytes)
			out = append(out, string(buf[j:]))
			buf, cut = buf[:j], true
		case i >= 0:
			if i+1 < len(buf) || !cut {
				out = append(out, string(buf[i+1:]))
			}
			buf, cut = buf[:i], false
		case pos == 0:
			// The first line of the file, which may be empty ("\nb\n").
			if len(buf) > 0 || (!cut && end > 0) {
				out = append(out, string(buf))
			}
			break loop
		default:
			size := min(blockSize, pos)
			block := make([]byte, size, int(size)+len(buf))
			if _, err := r.ReadAt(block, pos-size); err != nil {
				return nil, err
			}
			buf = append(block, buf...)
			if pos == end && buf[len(buf)-1] == '\n' {
				// The newline ending the last line does not start another one.
				buf = buf[:len(buf)-1]
			}
			pos -= size
		}
	}
	slices.Reverse(out)
	return out, nil
}

// lastLineStart returns where the unfinished last line of r[0:end] begins,
// using buf (at least MaxLineBytes) to look back: just after the last
// newline, or end if there is none within MaxLineBytes.
func lastLineStart(r io.ReaderAt, end int64, buf []byte) int64 {
	size := min(end, MaxLineBytes)
	buf = buf[:size]
	if _, err := r.ReadAt(buf, end-size); err != nil {
		return end
	}
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		return end - size + int64(i) + 1
	}
	if size == end {
		return 0 // the whole file is one unfinished line
	}
	return end
}
