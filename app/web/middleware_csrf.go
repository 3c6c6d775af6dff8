package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"

	"github.com/gofiber/fiber/v2"
)

// csrfToken returns the session's synchronizer token, creating it on first
// use. Tokens live in the session (in SQLite), so open pages stay valid
// across a restart of deployex.
func (s *Server) csrfToken(c *fiber.Ctx) string {
	ctx := c.UserContext()
	if t := s.sessions.GetString(ctx, sessCSRF); t != "" {
		return t
	}
	b := make([]byte, 32)
	rand.Read(b)
	t := base64.RawURLEncoding.EncodeToString(b)
	s.sessions.Put(ctx, sessCSRF, t)
	return t
}

// checkCSRF refuses every state-changing request whose token (htmx header or
// form field) does not match the session's.
func (s *Server) checkCSRF(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	want := s.sessions.GetString(c.UserContext(), sessCSRF)
	got := c.Get("X-CSRF-Token")
	if got == "" {
		got = c.FormValue("_csrf")
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return fiber.NewError(fiber.StatusForbidden, "The form has expired or did not come from this site. Reload the page and try again.")
	}
	return c.Next()
}
