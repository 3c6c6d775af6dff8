package web

import (
	"github.com/gofiber/fiber/v2"

	"deployex/app/nodes"
)

// beamSeries is one replica's last hour of BEAM memory in columns, the
// layout uPlot draws from. Times are Unix seconds (with milliseconds), as
// in hostHistory; sizes are bytes.
type beamSeries struct {
	App       string    `json:"app"`
	Instance  int       `json:"instance"`
	Node      string    `json:"node"`
	Connected bool      `json:"connected"`
	T         []float64 `json:"t"`
	Total     []int64   `json:"total"`
	Processes []int64   `json:"processes"`
	Binary    []int64   `json:"binary"`
	ETS       []int64   `json:"ets"`
}

func toBEAMSeries(h nodes.MemoryHistory) beamSeries {
	n := len(h.Samples)
	out := beamSeries{App: h.App, Instance: h.Instance, Node: h.Node, Connected: h.Connected,
		T: make([]float64, n), Total: make([]int64, n), Processes: make([]int64, n), Binary: make([]int64, n), ETS: make([]int64, n)}
	for i, m := range h.Samples {
		out.T[i] = float64(m.At.UnixMilli()) / 1000
		out.Total[i], out.Processes[i], out.Binary[i], out.ETS[i] = m.Total, m.Processes, m.Binary, m.ETS
	}
	return out
}

// hostBEAMHistory serves every replica's BEAM memory of the last hour,
// ordered by app and replica; with distribution off there is none. The page
// fetches it again at the rate the nodes are read rather than streaming it.
func (s *Server) hostBEAMHistory(c *fiber.Ctx) error {
	out := struct {
		Replicas []beamSeries `json:"replicas"`
	}{Replicas: []beamSeries{}}
	if s.Nodes != nil {
		for _, h := range s.Nodes.MemoryHistory() {
			out.Replicas = append(out.Replicas, toBEAMSeries(h))
		}
	}
	return c.JSON(out)
}
