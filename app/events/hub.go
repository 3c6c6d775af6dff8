// Package events is deployex's in-process publish/subscribe. Publishers never
// wait: every subscriber has its own bounded buffer, and a subscriber that
// falls behind loses messages (and is told how many) instead of slowing the
// supervisor, the deployer or a log follower.
package events

import (
	"sync"
	"sync/atomic"
)

// Hub fans messages of type T out to its subscribers.
type Hub[T any] struct {
	mu   sync.RWMutex
	subs map[*Sub[T]]struct{}
}

// NewHub returns an empty hub.
func NewHub[T any]() *Hub[T] { return &Hub[T]{subs: map[*Sub[T]]struct{}{}} }

// Sub is one subscription. Read from C; call Close when done.
type Sub[T any] struct {
	C       <-chan T
	ch      chan T
	hub     *Hub[T]
	filter  func(T) bool
	dropped atomic.Uint64
	once    sync.Once
}

// Subscribe registers a subscriber with a buffer of size buffer (at least 1).
// filter, when non-nil, selects the messages it wants.
func (h *Hub[T]) Subscribe(buffer int, filter func(T) bool) *Sub[T] {
	if buffer < 1 {
		buffer = 1
	}
	ch := make(chan T, buffer)
	s := &Sub[T]{C: ch, ch: ch, hub: h, filter: filter}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Publish offers m to every subscriber without blocking.
func (h *Hub[T]) Publish(m T) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		if s.filter != nil && !s.filter(m) {
			continue
		}
		select {
		case s.ch <- m:
		default:
			s.dropped.Add(1)
		}
	}
}

// Subscribers counts the live subscriptions.
func (h *Hub[T]) Subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}

// Dropped returns how many messages were lost since the last call, and resets the count.
func (s *Sub[T]) Dropped() uint64 { return s.dropped.Swap(0) }

// Close unsubscribes and closes C. It is safe to call more than once.
func (s *Sub[T]) Close() {
	s.once.Do(func() {
		s.hub.mu.Lock()
		delete(s.hub.subs, s)
		s.hub.mu.Unlock()
		close(s.ch)
	})
}
