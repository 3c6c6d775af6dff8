package web

import "github.com/gofiber/fiber/v2"

// logout deletes the session on the server, not only the cookie.
func (s *Server) logout(c *fiber.Ctx) error {
	if user := s.sessions.GetString(c.UserContext(), sessUser); user != "" {
		s.audit(c, user, "logout", "", "ok", "")
	}
	if err := s.sessions.Destroy(c.UserContext()); err != nil {
		return err
	}
	return c.Redirect("/login", fiber.StatusSeeOther)
}
