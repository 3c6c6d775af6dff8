package web

import (
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"deployex/app/auth"
	"deployex/views"
)

// login checks the password, rate-limits failures per client and per
// username, audits every attempt, and starts a session with a fresh token.
func (s *Server) login(c *fiber.Ctx) error {
	ctx := c.UserContext()
	username := strings.TrimSpace(c.FormValue("username"))
	password := c.FormValue("password")
	ipKey, userKey := "ip:"+c.IP(), "user:"+strings.ToLower(username)

	if s.limiter.Blocked(ipKey, userKey) {
		s.audit(c, username, "login", "", "rate_limited", "from "+c.IP())
		c.Set(fiber.HeaderRetryAfter, "60")
		return render(c, fiber.StatusTooManyRequests, views.Login(s.page(c, "Sign in", ""), username,
			"Too many failed attempts. Wait a minute and try again."))
	}

	var hash string
	u, err := s.Store.GetUserByName(ctx, username)
	switch {
	case err == nil:
		hash = u.PasswordHash
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	if !auth.CheckPassword(hash, password) {
		s.limiter.Fail(ipKey, userKey)
		s.audit(c, username, "login", "", "failed", "from "+c.IP())
		return render(c, fiber.StatusUnauthorized, views.Login(s.page(c, "Sign in", ""), username,
			"Wrong username or password."))
	}

	s.limiter.Reset(userKey)
	// A new token at login defeats session fixation; a new CSRF token goes with it.
	if err := s.sessions.RenewToken(ctx); err != nil {
		return err
	}
	s.sessions.Remove(ctx, sessCSRF)
	s.sessions.Put(ctx, sessUser, u.Username)
	s.sessions.Put(ctx, sessPass, auth.Fingerprint(u.PasswordHash))
	s.sessions.Put(ctx, sessSeen, time.Now())
	s.audit(c, u.Username, "login", "", "ok", "from "+c.IP())
	return c.Redirect("/", fiber.StatusSeeOther)
}
