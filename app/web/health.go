package web

import "github.com/gofiber/fiber/v2"

// health is for load balancers and systemd watchdogs: no auth, no database.
func (s *Server) health(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}
