package web

import (
	"github.com/gofiber/fiber/v2"

	"deployex/app/hostinfo"
)

// hostPoint is one sample as the charts read it. Times are Unix seconds
// (with milliseconds), the unit uPlot's time axis uses.
type hostPoint struct {
	T        float64 `json:"t"`
	CPU      float64 `json:"cpu"`
	MemUsed  uint64  `json:"mem_used"`
	MemTotal uint64  `json:"mem_total"`
	RSS      uint64  `json:"rss"`
}

func toHostPoint(s hostinfo.Sample) hostPoint {
	return hostPoint{T: float64(s.At.UnixMilli()) / 1000, CPU: s.CPU, MemUsed: s.MemUsed, MemTotal: s.MemTotal, RSS: s.RSS}
}

// hostHistory serves the last hour of samples, oldest first, in columns:
// the layout uPlot draws from, and compact for 3600 points.
func (s *Server) hostHistory(c *fiber.Ctx) error {
	samples := s.Sampler.History()
	out := struct {
		T        []float64 `json:"t"`
		CPU      []float64 `json:"cpu"`
		MemUsed  []uint64  `json:"mem_used"`
		MemTotal []uint64  `json:"mem_total"`
		RSS      []uint64  `json:"rss"`
	}{
		T: make([]float64, len(samples)), CPU: make([]float64, len(samples)),
		MemUsed: make([]uint64, len(samples)), MemTotal: make([]uint64, len(samples)), RSS: make([]uint64, len(samples)),
	}
	for i, smp := range samples {
		p := toHostPoint(smp)
		out.T[i], out.CPU[i], out.MemUsed[i], out.MemTotal[i], out.RSS[i] = p.T, p.CPU, p.MemUsed, p.MemTotal, p.RSS
	}
	return c.JSON(out)
}
