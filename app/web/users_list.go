package web

import (
	"github.com/gofiber/fiber/v2"

	"deployex/app"
	"deployex/views"
)

func (s *Server) userList(c *fiber.Ctx) error {
	return s.renderUsers(c, fiber.StatusOK, "", c.Query("ok"))
}

// renderUsers shows the users page with an outcome message.
func (s *Server) renderUsers(c *fiber.Ctx, status int, errMsg, okMsg string) error {
	users, err := s.Store.ListUsers(c.UserContext())
	if err != nil {
		return err
	}
	rows := make([]views.UserRow, len(users))
	for i, u := range users {
		rows[i] = views.UserRow{Name: u.Username, Role: app.Role(u.Role), Created: u.CreatedAt}
	}
	return render(c, status, views.Users(s.page(c, "Users", "users"), rows, errMsg, okMsg))
}
