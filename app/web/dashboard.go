package web

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"deployex/views"
)

func (s *Server) dashboard(c *fiber.Ctx) error {
	apps, err := s.appViews(c.UserContext())
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.Dashboard(s.page(c, "Apps", "dashboard"), s.system(), apps, time.Now()))
}
