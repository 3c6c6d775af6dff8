package hostinfo

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	"deployex/app/events"
	"deployex/app/internal/ring"
)

// DefaultInterval is how often the dashboard's host charts get a point.
const DefaultInterval = time.Second

// keep is how far back History reaches.
const keep = time.Hour

// Sample is one reading of the host and of deployex itself.
type Sample struct {
	At time.Time
	// CPU is the busy share of all CPUs since the previous sample, 0 to 100.
	CPU float64
	// MemUsed is MemTotal − MemAvailable: page cache does not count as used.
	MemUsed, MemTotal    uint64        // bytes
	Load1, Load5, Load15 float64       // run-queue averages over 1, 5 and 15 minutes
	Uptime               time.Duration // since the host booted
	RSS                  uint64        // deployex's own resident memory, bytes
}

// Sampler reads a Sample at a fixed interval, keeps the last hour of them
// in a fixed ring, and announces each on a hub.
type Sampler struct {
	log   *slog.Logger
	every time.Duration
	hub   *events.Hub[Sample]

	mu      sync.RWMutex
	samples *ring.Ring[Sample]
}

// NewSampler returns a sampler that reads every interval (DefaultInterval
// when not positive) once Run is called.
func NewSampler(log *slog.Logger, every time.Duration) *Sampler {
	if every <= 0 {
		every = DefaultInterval
	}
	return &Sampler{
		log:     log,
		every:   every,
		hub:     events.NewHub[Sample](),
		samples: ring.New[Sample](int((keep + every - 1) / every)),
	}
}

// Run samples until ctx ends. The first sample comes one interval after the
// start, because CPU use is a difference between two readings.
func (s *Sampler) Run(ctx context.Context) {
	var prev cpuTimes // zero until a reading succeeds: then it is only a baseline
	var lastErr string
	tick := time.NewTicker(s.every)
	defer tick.Stop()
	for {
		sample, cur, err := readSample(prev)
		switch {
		case err != nil:
			// Logged once per distinct failure: /proc does not heal by itself.
			if msg := err.Error(); msg != lastErr {
				s.log.Warn("read host metrics", "err", err)
				lastErr = msg
			}
		case prev.total != 0:
			lastErr = ""
			s.record(sample)
			s.hub.Publish(sample)
		}
		prev = cur
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// readSample reads the host and deployex; the CPU share is measured since
// prev. On error cur is zero, so the next reading starts a new baseline.
func readSample(prev cpuTimes) (sample Sample, cur cpuTimes, err error) {
	cur, errCPU := readCPU()
	used, total, errMem := readMem()
	load, errLoad := readLoad()
	up, errUp := readUptime()
	self, errSelf := ReadProcess(os.Getpid())
	if err := errors.Join(errCPU, errMem, errLoad, errUp, errSelf); err != nil {
		return Sample{}, cpuTimes{}, err
	}
	return Sample{
		At:       time.Now(),
		CPU:      cur.percentSince(prev),
		MemUsed:  used,
		MemTotal: total,
		Load1:    load[0],
		Load5:    load[1],
		Load15:   load[2],
		Uptime:   up,
		RSS:      self.RSS,
	}, cur, nil
}

func (s *Sampler) record(sample Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples.Add(sample)
}

// Latest returns the newest sample; false before the first one.
func (s *Sampler) Latest() (Sample, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.samples.Last()
}

// History returns a copy of the samples of the last hour, oldest first.
func (s *Sampler) History() []Sample {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.samples.All()
}

// Subscribe announces each new sample on the returned subscription; a
// reader that falls behind misses samples rather than delaying them.
func (s *Sampler) Subscribe(buffer int) *events.Sub[Sample] {
	return s.hub.Subscribe(buffer, nil)
}
