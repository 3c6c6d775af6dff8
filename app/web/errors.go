package web

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"deployex/views"
)

// handleError answers API calls with JSON and pages with the error page.
// Internal errors are logged in full and shown to the user only as a status.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	msg := "Internal error; the details are in deployex's log."
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code, msg = fe.Code, fe.Message
	} else {
		s.Log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
	}
	if isAPI(c) {
		return c.Status(code).JSON(fiber.Map{"error": msg})
	}
	if c.Get("HX-Request") == "true" {
		// htmx swaps nothing on an error status; the message goes to the page's alert area.
		c.Set("HX-Reswap", "none")
	}
	return render(c, code, views.Error(s.page(c, "Error", ""), code, msg))
}

func (s *Server) notFound(c *fiber.Ctx) error {
	return fiber.NewError(fiber.StatusNotFound, "There is nothing at "+c.Path()+".")
}

// isAPI: API paths, and any request that authenticates with a bearer token, get JSON.
func isAPI(c *fiber.Ctx) bool {
	return strings.HasPrefix(c.Path(), "/api/") || c.Get(fiber.HeaderAuthorization) != ""
}
