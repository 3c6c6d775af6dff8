package web

import (
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"
)

// hostLive streams each new sample as JSON for the charts (event "sample").
// The history comes from hostHistory; the page joins the two by time.
func (s *Server) hostLive(c *fiber.Ctx) error {
	samples := s.Sampler.Subscribe(4)
	streamSSE(c, func(w *sseWriter) {
		defer samples.Close()
		ping := time.NewTicker(sseKeepAlive)
		defer ping.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-ping.C:
				w.ping()
			case smp := <-samples.C:
				data, err := json.Marshal(toHostPoint(smp))
				if err != nil {
					s.Log.Error("host sample to JSON", "err", err)
					return
				}
				w.event("sample", data)
			}
			if w.flush() != nil {
				return
			}
		}
	})
	return nil
}
