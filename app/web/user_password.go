package web

import (
	"net/url"

	"github.com/gofiber/fiber/v2"

	"deployex/app/auth"
	"deployex/db"
)

// userPassword sets a new password; the user's other sessions end because
// their password fingerprint no longer matches.
func (s *Server) userPassword(c *fiber.Ctx) error {
	name := c.Params("name")
	hash, err := auth.HashPassword(c.FormValue("password"))
	if err != nil {
		s.audit(c, actor(c), "user_password", name, "failed", err.Error())
		return s.renderUsers(c, fiber.StatusUnprocessableEntity, err.Error(), "")
	}
	n, err := s.Store.SetUserPassword(c.UserContext(), db.SetUserPasswordParams{PasswordHash: hash, Username: name})
	if err != nil {
		return err
	}
	if n == 0 {
		return fiber.NewError(fiber.StatusNotFound, "No user named "+name+".")
	}
	s.audit(c, actor(c), "user_password", name, "ok", "")
	if name == actor(c) {
		// Keep the admin who changed their own password logged in.
		s.sessions.Put(c.UserContext(), sessPass, auth.Fingerprint(hash))
	}
	return c.Redirect("/users?ok="+url.QueryEscape("Password of "+name+" changed."), fiber.StatusSeeOther)
}
