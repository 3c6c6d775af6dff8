package nodes

import (
	"cmp"
	"slices"
	"time"

	"deployex/app/internal/ring"
	"deployex/app/otp"
)

// keepMemory is how far back the BEAM memory history of a replica reaches.
const keepMemory = time.Hour

// minSampleGap: a reading this soon after the previous one (a connection's
// first read racing the periodic refresh) adds nothing to an hour-long chart
// and would shorten the hour the ring covers.
const minSampleGap = time.Second

// MemorySample is one reading of a replica's erlang:memory/0, in bytes.
type MemorySample struct {
	At                            time.Time
	Total, Processes, Binary, ETS int64
}

// MemoryHistory is the last hour of one replica's BEAM memory.
type MemoryHistory struct {
	App       string
	Instance  int
	Node      string
	Connected bool           // connected now; the last sample is then its current memory
	Samples   []MemorySample // oldest first; a restart shows as a gap in time
}

// record adds a reading to the node's ring. The time is taken under the lock,
// so concurrent refreshes of one node still add samples in time order.
func (s *Service) record(name string, m otp.Memory) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	r := s.memory[name]
	if r == nil {
		r = ring.New[MemorySample](int(keepMemory / infoInterval))
		s.memory[name] = r
	}
	if last, ok := r.Last(); ok && now.Sub(last.At) < minSampleGap {
		return
	}
	r.Add(MemorySample{At: now, Total: m.Total, Processes: m.Processes, Binary: m.Binary, ETS: m.ETS})
}

// MemoryHistory returns the last hour of BEAM memory of every configured
// replica, ordered by app and replica; one never read has no samples.
func (s *Service) MemoryHistory() []MemoryHistory {
	s.mu.Lock()
	defer s.mu.Unlock()
	since := time.Now().Add(-keepMemory)
	out := make([]MemoryHistory, 0, len(s.nodes))
	for name, key := range s.nodes {
		h := MemoryHistory{App: key.app, Instance: key.n, Node: name,
			Connected: s.node != nil && s.node.Connected(name)}
		if r := s.memory[name]; r != nil {
			// Readings from before a long disconnection may be older than the hour.
			h.Samples = slices.DeleteFunc(r.All(), func(m MemorySample) bool { return m.At.Before(since) })
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b MemoryHistory) int {
		return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.Instance, b.Instance))
	})
	return out
}
