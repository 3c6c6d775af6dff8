package web

import (
	"errors"
	"net/url"

	"github.com/gofiber/fiber/v2"
)

var (
	errUserExists = errors.New("a user with that name exists")
	errLastAdmin  = errors.New("the last admin cannot be deleted")
	errDeleteSelf = errors.New("you cannot delete your own account")
)

func (s *Server) userDelete(c *fiber.Ctx) error {
	ctx := c.UserContext()
	name := c.Params("name")
	u, err := s.Store.GetUserByName(ctx, name)
	if err != nil {
		return fiber.NewError(fiber.StatusNotFound, "No user named "+name+".")
	}
	switch {
	case name == actor(c):
		err = errDeleteSelf
	case u.Role == "admin":
		var admins int64
		if admins, err = s.Store.CountAdmins(ctx); err == nil && admins <= 1 {
			err = errLastAdmin
		}
	}
	if err == nil {
		_, err = s.Store.DeleteUser(ctx, name)
	}
	if err != nil {
		s.audit(c, actor(c), "user_delete", name, "failed", err.Error())
		return s.renderUsers(c, fiber.StatusConflict, err.Error(), "")
	}
	s.audit(c, actor(c), "user_delete", name, "ok", "")
	return c.Redirect("/users?ok="+url.QueryEscape("User "+name+" deleted."), fiber.StatusSeeOther)
}
