package memtrim

import (
	"crypto/sha256"
	"testing"
)

// TestReleaseStartupPages runs on the test binary itself: its code and
// read-only data are resident before, mostly gone after, and the program
// still runs code it paged out.
func TestReleaseStartupPages(t *testing.T) {
	sum := sha256.Sum256([]byte("warm"))
	res, err := ReleaseStartupPages()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d ranges, resident %d KiB before, %d KiB after", res.Ranges, res.ResidentBefore>>10, res.ResidentAfter>>10)
	if res.Ranges < 2 {
		t.Errorf("%d read-only mappings of the executable, want code and read-only data", res.Ranges)
	}
	if res.ResidentBefore == 0 || res.ResidentAfter*2 > res.ResidentBefore {
		t.Errorf("resident %d bytes before, %d after: not released", res.ResidentBefore, res.ResidentAfter)
	}
	if sha256.Sum256([]byte("warm")) != sum {
		t.Error("code paged out and back in computes something else")
	}
}

func TestParseRange(t *testing.T) {
	for in, ok := range map[string]bool{"00400000-01b26000": true, "Rss:": false, "10-5": false, "zz-10": false} {
		if _, got := parseRange(in); got != ok {
			t.Errorf("parseRange(%q) ok = %v, want %v", in, got, ok)
		}
	}
}
