package web

import "github.com/gofiber/fiber/v2"

// logLive streams one replica's stdout or stderr: its last lines, then each
// new batch of lines.
func (s *Server) logLive(c *fiber.Ctx) error {
	ref, err := s.logParam(c)
	if err != nil {
		return err
	}
	return s.streamLogs(c, logBacklog, false, []logSource{s.replicaLog(ref.spec.Name, ref.n, ref.stream)})
}
