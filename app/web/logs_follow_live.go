package web

import "github.com/gofiber/fiber/v2"

// logsFollowLive streams the files /logs follows, each line labelled.
func (s *Server) logsFollowLive(c *fiber.Ctx) error {
	_, sources, err := s.followParam(c)
	if err != nil {
		return err
	}
	return s.streamLogs(c, followBacklog(len(sources)), true, sources)
}
