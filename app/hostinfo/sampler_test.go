package hostinfo

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

func TestRingKeepsAnHourWithoutGrowing(t *testing.T) {
	for every, want := range map[time.Duration]int{time.Second: 3600, 2 * time.Second: 1800, 7 * time.Second: 515} {
		s := NewSampler(slog.Default(), every)
		for i := 0; i < want+10; i++ {
			s.record(Sample{})
		}
		if n := len(s.History()); n != want {
			t.Errorf("every %v: keeps %d samples, want %d", every, n, want)
		}
	}

	s := NewSampler(slog.Default(), 15*time.Minute) // an hour is 4 samples
	if _, ok := s.Latest(); ok || len(s.History()) != 0 {
		t.Fatal("an empty sampler has samples")
	}
	for i := range 10 {
		s.record(Sample{RSS: uint64(i)})
		h := s.History()
		if len(h) != min(i+1, 4) || h[len(h)-1].RSS != uint64(i) || h[0].RSS != uint64(max(0, i-3)) {
			t.Fatalf("after %d samples: %+v", i+1, h)
		}
		if l, ok := s.Latest(); !ok || l.RSS != uint64(i) {
			t.Fatalf("Latest after %d samples: %+v", i+1, l)
		}
	}
}

func TestSamplerSeesABusyCore(t *testing.T) {
	s := NewSampler(slog.New(slog.NewTextHandler(io.Discard, nil)), 200*time.Millisecond)
	sub := s.Subscribe(100)
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	idle := <-sub.C
	burnt := make(chan struct{})
	go func() { burn(1200 * time.Millisecond); close(burnt) }()
	var peak float64
	for waiting := true; waiting; {
		select {
		case smp := <-sub.C:
			peak = max(peak, smp.CPU)
		case <-burnt:
			waiting = false
		}
	}
	// One busy core of N is 100/N percent of the host; allow for the
	// scheduler and for samples straddling the start of the burn.
	want := 0.7 * 100 / float64(ReadHost().CPUs)
	t.Logf("CPU before %.1f%%, peak while burning %.1f%% (want ≥ %.1f%%)", idle.CPU, peak, want)
	if peak < want || peak > 100 {
		t.Fatalf("peak CPU %.1f%% while burning a core", peak)
	}
	if h := s.History(); len(h) < 5 || !h[len(h)-1].At.After(h[0].At) {
		t.Fatalf("history of %d samples", len(h))
	}
}
