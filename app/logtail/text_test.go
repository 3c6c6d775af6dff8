package logtail

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStripANSI(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"\x1b[31mred\x1b[0m", "red"},
		{"\x1b[1;38;5;208mbold orange\x1b[m!", "bold orange!"},
		{"\x1b[2K\x1b[1Gprogress", "progress"},
		{"\x1b]0;window title\x07text", "text"},
		{"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"\x1b(Bcharset \x1b7saved\x1b8", "charset saved"},
		{"cut off \x1b[3", "cut off "},
		{"unterminated \x1b]0;title", "unterminated "},
		{"lone \x1b", "lone "},
		{"malformed \x1b[12\x01x", "malformed \x01x"},
		{"\xff\x1b[32m\xfe", "\xff\xfe"},
	} {
		if got := StripANSI(c.in); got != c.want {
			t.Errorf("StripANSI(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSanitize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"<script>alert(1)</script>", "<script>alert(1)</script>"}, // escaping is the template's job
		{"\x1b[31merror\x1b[0m: boom", "error: boom"},
		{"bad \xff\xfe utf8", "bad \uFFFD\uFFFD utf8"},
		{"tab\tkept, cr\r bell\a del\x7f c1\u0085 gone", "tab\tkept, cr bell del c1 gone"},
		{"ünïcødé ✓ 日本", "ünïcødé ✓ 日本"},
	} {
		got := Sanitize(c.in)
		if got != c.want {
			t.Errorf("Sanitize(%q) = %q, want %q", c.in, got, c.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Sanitize(%q) is not valid UTF-8", c.in)
		}
	}
}

func TestPiecesDoNotSplitRunes(t *testing.T) {
	b := []byte(strings.Repeat("é", 10)) // 2 bytes each
	if i := pieceEnd(b, 5); i != 4 {
		t.Errorf("pieceEnd = %d, want 4", i)
	}
	if i := pieceStart(b, 5); i != 16 {
		t.Errorf("pieceStart = %d, want 16", i)
	}
	bin := []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80}
	if i := pieceEnd(bin, 5); i < 2 {
		t.Errorf("pieceEnd on continuation bytes backed up to %d", i)
	}
}
