package auth

import (
	"strings"
	"testing"
	"time"
)

func TestLimiterSlidingWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewLimiter(5, time.Minute)
	l.now = func() time.Time { return now }
	for i := 0; i < 5; i++ {
		if l.Blocked("ip:a") {
			t.Fatalf("blocked after %d failures", i)
		}
		l.Fail("ip:a", "user:x")
		now = now.Add(time.Second)
	}
	if !l.Blocked("ip:a") || !l.Blocked("user:x") || l.Blocked("ip:b") {
		t.Fatal("5 failures must block both keys, and only them")
	}
	now = now.Add(56 * time.Second) // the first failure leaves the window
	if l.Blocked("ip:a") {
		t.Fatal("failures older than the window must not count")
	}
	l.Fail("ip:a")
	l.Reset("ip:a")
	if l.Blocked("ip:a") {
		t.Fatal("Reset must forget failures")
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	l := NewLimiter(5, time.Minute)
	l.maxKeys = 100
	for i := 0; i < 10000; i++ {
		l.Fail(strings.Repeat("k", i%50) + string(rune('a'+i%26)) + time.Duration(i).String())
	}
	if len(l.fails) > 100 {
		t.Fatalf("%d keys kept, cap is 100", len(l.fails))
	}
}

func TestPasswordsAndTokens(t *testing.T) {
	if _, err := HashPassword("short"); err == nil {
		t.Fatal("short passwords must be refused")
	}
	h, err := HashPassword("long enough")
	if err != nil || !CheckPassword(h, "long enough") || CheckPassword(h, "long enougH") || CheckPassword("", "") {
		t.Fatal("bcrypt round trip")
	}
	tok, hash := NewToken()
	tok2, _ := NewToken()
	if !strings.HasPrefix(tok, "dx_") || tok == tok2 || HashToken(tok) != hash || len(hash) != 64 {
		t.Fatalf("token %q hash %q", tok, hash)
	}
	for _, bad := range []string{"", "a b", "../x", "<script>", strings.Repeat("a", 65)} {
		if ValidUsername(bad) == nil {
			t.Errorf("username %q accepted", bad)
		}
	}
}
