package nodes

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"deployex/app"
	"deployex/app/config"
	"deployex/app/events"
	"deployex/app/otp"
	"deployex/app/supervisor"
)

type fakeReplicas struct{}

func (fakeReplicas) Node(appName string, n int) string { return fmt.Sprintf("%s-%d@host", appName, n) }
func (fakeReplicas) SetProber(supervisor.Prober)       {}

func newTestService(apps ...app.Spec) *Service {
	return New(&config.Config{Apps: apps}, events.NewBus(), fakeReplicas{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// The history lists every configured replica by app and replica, keeps
// readings in time order without near-duplicates, holds an hour at the
// refresh rate at most, and leaves out readings older than the hour.
func TestMemoryHistory(t *testing.T) {
	s := newTestService(app.Spec{Name: "zeta", Replicas: 2}, app.Spec{Name: "alpha", Replicas: 2})
	s.record("zeta-2@host", otp.Memory{Total: 100, Processes: 40, Binary: 5, ETS: 7})
	s.record("zeta-2@host", otp.Memory{Total: 999}) // right after: dropped
	h := s.MemoryHistory()
	var order []string
	for _, r := range h {
		order = append(order, r.Node)
	}
	if fmt.Sprint(order) != "[alpha-1@host alpha-2@host zeta-1@host zeta-2@host]" {
		t.Fatalf("order %v", order)
	}
	if got := h[3].Samples; len(got) != 1 || got[0].Total != 100 || got[0].Processes != 40 || got[0].Binary != 5 || got[0].ETS != 7 {
		t.Errorf("zeta-2: %+v", got)
	}
	if h[0].Samples != nil || h[0].App != "alpha" || h[0].Instance != 1 || h[0].Connected {
		t.Errorf("a replica never read: %+v", h[0])
	}

	// Fill the ring past its size with readings spaced as the refresh spaces
	// them, the oldest beyond the hour.
	r := s.memory["zeta-2@host"]
	size := int(keepMemory / infoInterval)
	start := time.Now().Add(-keepMemory - 10*time.Minute)
	for i := range size + 30 {
		r.Add(MemorySample{At: start.Add(time.Duration(i) * infoInterval), Total: int64(i)})
	}
	got := s.MemoryHistory()[3].Samples
	if r.Len() != size {
		t.Errorf("ring of %d readings, want %d", r.Len(), size)
	}
	if len(got) == 0 || len(got) >= size {
		t.Fatalf("%d readings in the last hour", len(got))
	}
	for i, m := range got {
		if time.Since(m.At) > keepMemory || (i > 0 && !m.At.After(got[i-1].At)) {
			t.Fatalf("reading %d at %s: older than the hour or out of order", i, m.At)
		}
	}
}
