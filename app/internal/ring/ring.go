// Package ring keeps the newest values of a series in a buffer allocated
// once, so a history of fixed length costs the same memory after a week as
// after an hour.
package ring

// Ring holds up to its size of the newest values added. It is not safe for
// concurrent use: its owner guards it with the lock of the state it belongs to.
type Ring[T any] struct {
	buf  []T
	next int  // where the next value goes
	full bool // buf has wrapped: every slot holds a value
}

// New returns an empty ring that keeps the newest size values (at least one).
func New[T any](size int) *Ring[T] {
	return &Ring[T]{buf: make([]T, max(1, size))}
}

// Add keeps v, dropping the oldest value when the ring is full.
func (r *Ring[T]) Add(v T) {
	r.buf[r.next] = v
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// Len is how many values the ring holds.
func (r *Ring[T]) Len() int {
	if r.full {
		return len(r.buf)
	}
	return r.next
}

// Last returns the newest value; false when the ring is empty.
func (r *Ring[T]) Last() (T, bool) {
	if r.Len() == 0 {
		var zero T
		return zero, false
	}
	return r.buf[(r.next-1+len(r.buf))%len(r.buf)], true
}

// All returns a copy of the values, oldest first.
func (r *Ring[T]) All() []T {
	out := make([]T, 0, r.Len())
	if r.full {
		out = append(out, r.buf[r.next:]...)
	}
	return append(out, r.buf[:r.next]...)
}
