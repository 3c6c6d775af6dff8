package web

import (
	"math"
	"time"

	"github.com/gofiber/fiber/v2"

	"deployex/app"
	"deployex/app/hostinfo"
	"deployex/views"
)

// hostPage shows the deployex and host cards, live, and the last hour as
// charts; the min/average/max table keeps the page useful without scripts.
func (s *Server) hostPage(c *fiber.Ctx) error {
	stats := hostStats(s.Sampler.History())
	return render(c, fiber.StatusOK, views.HostPage(s.page(c, "Host", "host"), s.system(), stats, s.beamView(), time.Now()))
}

// beamView is each replica's latest BEAM memory for the table under the chart.
func (s *Server) beamView() views.BEAMView {
	if s.Nodes == nil {
		return views.BEAMView{}
	}
	v := views.BEAMView{Distribution: true}
	for _, h := range s.Nodes.MemoryHistory() {
		r := views.BEAMReplica{Name: app.NodeShortName(h.App, h.Instance), Node: h.Node, Connected: h.Connected}
		if n := len(h.Samples); h.Connected && n > 0 {
			m := h.Samples[n-1]
			r.Current = &views.BEAMMemory{Total: uint64(m.Total), Processes: uint64(m.Processes),
				Binary: uint64(m.Binary), ETS: uint64(m.ETS)}
		}
		v.Replicas = append(v.Replicas, r)
	}
	return v
}

// hostStats summarises samples; none gives no rows.
func hostStats(samples []hostinfo.Sample) []views.HostStat {
	if len(samples) == 0 {
		return nil
	}
	cpu, mem, rss := newSeriesStat(), newSeriesStat(), newSeriesStat()
	for _, smp := range samples {
		cpu.add(smp.CPU)
		mem.add(float64(smp.MemUsed))
		rss.add(float64(smp.RSS))
	}
	size := func(v float64) string { return views.Bytes(uint64(v)) }
	return []views.HostStat{
		cpu.row("CPU", views.Percent),
		mem.row("memory used", size),
		rss.row("deployex RSS", size),
	}
}

type seriesStat struct{ min, max, sum, n float64 }

func newSeriesStat() *seriesStat { return &seriesStat{min: math.Inf(1), max: math.Inf(-1)} }

func (a *seriesStat) add(v float64) {
	a.min, a.max, a.sum, a.n = min(a.min, v), max(a.max, v), a.sum+v, a.n+1
}

func (a *seriesStat) row(name string, format func(float64) string) views.HostStat {
	return views.HostStat{Name: name, Min: format(a.min), Avg: format(a.sum / a.n), Max: format(a.max)}
}
