package logtail

import (
	"strings"
	"unicode/utf8"
)

// MaxLineBytes caps one line. Longer lines are split into pieces of at most
// this size (marked Line.Cut), so a writer that never prints a newline cannot
// grow deployex's memory.
const MaxLineBytes = 64 << 10

// StripANSI removes terminal escape sequences (colours, cursor movement,
// window titles) so a line renders as plain text. It works on raw bytes, so
// invalid UTF-8 around the sequences is left for Sanitize to deal with.
func StripANSI(s string) string {
	i := strings.IndexByte(s, esc)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		b.WriteString(s[:i])
		s = s[i+escapeLen(s[i:]):]
		i = strings.IndexByte(s, esc)
	}
	b.WriteString(s)
	return b.String()
}

const (
	esc = 0x1b
	bel = 0x07
)

// escapeLen returns the length of the escape sequence at the start of s
// (s[0] is ESC), following ECMA-48. A sequence cut off by the end of the line
// swallows the rest: it could not have displayed anything anyway.
func escapeLen(s string) int {
	if len(s) < 2 {
		return len(s)
	}
	switch s[1] {
	case '[': // CSI: parameters, intermediates, one final byte
		i := 2
		for i < len(s) && s[i] >= 0x30 && s[i] <= 0x3f {
			i++
		}
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
			i++
		}
		if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
			i++
		}
		// A malformed CSI ends at the offending byte, which stays visible.
		return i
	case ']', 'P', 'X', '^', '_': // OSC, DCS, SOS, PM, APC: a string up to BEL or ESC \
		for i := 2; i < len(s); i++ {
			switch {
			case s[i] == bel:
				return i + 1
			case s[i] == esc && i+1 < len(s) && s[i+1] == '\\':
				return i + 2
			}
		}
		return len(s)
	}
	// Other escapes: intermediates (e.g. the "(" of ESC ( B) then one final byte.
	i := 1
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
		i++
	}
	return i
}

// Sanitize makes a raw log line safe to put in a page as text: escape
// sequences are removed, invalid UTF-8 becomes U+FFFD, and control characters
// other than tab are dropped (a stray \r or \b would otherwise garble the
// view). HTML escaping is still the template's job.
func Sanitize(s string) string {
	return strings.Map(printable, StripANSI(s))
}

func printable(r rune) rune {
	switch {
	case r == '\t' || r == utf8.RuneError:
		return r
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return -1
	}
	return r
}

// pieceStart returns where to start a piece of at most max bytes taken from
// the end of b: len(b)-max, or up to 3 bytes later so the piece does not
// start inside a UTF-8 sequence.
func pieceStart[T string | []byte](b T, max int) int {
	i := len(b) - max
	for k := 0; k < utf8.UTFMax-1 && i < len(b) && !utf8.RuneStart(b[i]); k++ {
		i++
	}
	return i
}

// pieceEnd returns where to end a piece of at most max bytes taken from the
// start of b: max itself, or up to 3 bytes earlier so the piece does not end
// inside a UTF-8 sequence.
func pieceEnd[T string | []byte](b T, max int) int {
	i := max
	for k := 0; k < utf8.UTFMax-1 && i > 0 && !utf8.RuneStart(b[i]); k++ {
		i--
	}
	return i
}
