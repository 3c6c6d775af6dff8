package web

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"deployex/app"
	"deployex/app/auth"
	"deployex/db"
)

func (s *Server) userCreate(c *fiber.Ctx) error {
	name := strings.TrimSpace(c.FormValue("username"))
	role, err := app.ParseRole(c.FormValue("role"))
	if err == nil {
		err = auth.ValidUsername(name)
	}
	var hash string
	if err == nil {
		hash, err = auth.HashPassword(c.FormValue("password"))
	}
	if err == nil {
		_, err = s.Store.CreateUser(c.UserContext(), db.CreateUserParams{Username: name, PasswordHash: hash, Role: string(role)})
		if err != nil && strings.Contains(err.Error(), "UNIQUE") {
			err = errUserExists
		} else if err != nil {
			return err
		}
	}
	if err != nil {
		s.audit(c, actor(c), "user_create", name, "failed", err.Error())
		return s.renderUsers(c, fiber.StatusUnprocessableEntity, err.Error(), "")
	}
	s.audit(c, actor(c), "user_create", name, "ok", "role "+string(role))
	return c.Redirect("/users?ok="+url.QueryEscape("User "+name+" added."), fiber.StatusSeeOther)
}
