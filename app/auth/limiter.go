package auth

import (
	"sync"
	"time"
)

// Limiter counts failures per key (a client address, a username) in a sliding
// window. Memory is bounded: keys whose failures have all expired are dropped
// on the next sweep, and the total number of keys is capped.
type Limiter struct {
	mu      sync.Mutex
	max     int
	window  time.Duration
	maxKeys int
	fails   map[string][]time.Time
	now     func() time.Time
}

// NewLimiter allows at most max failures per key within window.
func NewLimiter(max int, window time.Duration) *Limiter {
	return &Limiter{max: max, window: window, maxKeys: 100000, fails: map[string][]time.Time{}, now: time.Now}
}

// Blocked reports whether any of keys has reached the limit.
func (l *Limiter) Blocked(keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		if len(l.recent(k, now)) >= l.max {
			return true
		}
	}
	return false
}

// Fail records one failure for each key.
func (l *Limiter) Fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.fails) >= l.maxKeys {
		l.sweep(now)
	}
	for _, k := range keys {
		if _, ok := l.fails[k]; !ok && len(l.fails) >= l.maxKeys {
			continue // under a flood of new keys the per-key limit still holds for known ones
		}
		l.fails[k] = append(l.recent(k, now), now)
	}
}

// Reset forgets the failures of keys (after a successful login).
func (l *Limiter) Reset(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		delete(l.fails, k)
	}
}

func (l *Limiter) recent(k string, now time.Time) []time.Time {
	ts := l.fails[k]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	if i == len(ts) {
		delete(l.fails, k)
		return nil
	}
	ts = ts[i:]
	l.fails[k] = ts
	return ts
}

func (l *Limiter) sweep(now time.Time) {
	for k := range l.fails {
		l.recent(k, now)
	}
}
