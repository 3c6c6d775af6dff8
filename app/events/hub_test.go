package events

import (
	"testing"
	"time"
)

func TestSlowSubscriberNeverBlocksPublisher(t *testing.T) {
	h := NewHub[int]()
	slow := h.Subscribe(4, nil) // never read
	fast := h.Subscribe(2000, nil)
	defer slow.Close()
	defer fast.Close()

	done := make(chan struct{})
	go func() {
		for i := 0; i < 1000; i++ {
			h.Publish(i)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publisher blocked on a subscriber that does not read")
	}
	if got := len(fast.C); got != 1000 {
		t.Fatalf("fast subscriber got %d messages, want 1000", got)
	}
	if d := slow.Dropped(); d != 996 {
		t.Fatalf("slow subscriber dropped %d, want 996", d)
	}
	if d := slow.Dropped(); d != 0 {
		t.Fatalf("Dropped must reset, got %d", d)
	}
	for i := 0; i < 4; i++ {
		if v := <-slow.C; v != i {
			t.Fatalf("slow subscriber kept %d at %d, want the oldest messages", v, i)
		}
	}
}

func TestFilterAndClose(t *testing.T) {
	h := NewHub[Event]()
	s := h.Subscribe(10, func(e Event) bool { return e.App == "a" })
	h.Publish(Event{App: "b"})
	h.Publish(Event{App: "a", Instance: 2})
	if e := <-s.C; e.App != "a" || e.Instance != 2 {
		t.Fatalf("got %+v", e)
	}
	s.Close()
	s.Close()
	if _, ok := <-s.C; ok {
		t.Fatal("channel must be closed after Close")
	}
	if n := h.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers after Close", n)
	}
	h.Publish(Event{App: "a"}) // must not panic on a closed subscriber
}
