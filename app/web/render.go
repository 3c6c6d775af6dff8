package web

import (
	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"deployex/app"
	"deployex/app/config"
	"deployex/views"
)

func render(c *fiber.Ctx, status int, comp templ.Component) error {
	c.Status(status)
	c.Type("html", "utf-8")
	return comp.Render(c.UserContext(), c.Response().BodyWriter())
}

// page fills the layout's data from the request's session.
func (s *Server) page(c *fiber.Ctx, title, nav string) views.Page {
	p := views.Page{
		Title:       title,
		Nav:         nav,
		LocalBanner: s.Config.AdminHash == config.LocalAdminHash,
		Version:     s.Version,
	}
	if c.Locals(localSession) != nil {
		p.CSRF = s.csrfToken(c)
	}
	if u, ok := c.Locals(localUser).(string); ok {
		p.User = u
		p.Role, _ = c.Locals(localRole).(app.Role)
	}
	return p
}
