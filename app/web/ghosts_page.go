package web

import (
	"github.com/gofiber/fiber/v2"

	"deployex/views"
)

func (s *Server) ghostsPage(c *fiber.Ctx) error {
	spec, err := s.appParam(c)
	if err != nil {
		return err
	}
	rows, err := s.Store.ListGhosts(c.UserContext(), spec.Name)
	if err != nil {
		return err
	}
	ghosts := make([]views.Ghost, len(rows))
	for i, g := range rows {
		ghosts[i] = views.Ghost{Version: g.Version, Reason: g.Reason, Created: g.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC")}
	}
	return render(c, fiber.StatusOK, views.Ghosts(s.page(c, spec.Name+" ghosts", "dashboard"), spec.Name, ghosts))
}
