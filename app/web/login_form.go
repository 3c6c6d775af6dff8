package web

import (
	"github.com/gofiber/fiber/v2"

	"deployex/views"
)

func (s *Server) loginForm(c *fiber.Ctx) error {
	if s.sessions.GetString(c.UserContext(), sessUser) != "" {
		return c.Redirect("/", fiber.StatusSeeOther)
	}
	return render(c, fiber.StatusOK, views.Login(s.page(c, "Sign in", ""), "", ""))
}
