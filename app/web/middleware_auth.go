package web

import (
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"deployex/app"
	"deployex/app/auth"
)

// Locals set by the auth middlewares.
const (
	localUser = "user"
	localRole = "role"
)

// seenRefresh is how stale a session's last-seen time may get before it is
// written again: the idle timeout is enforced here rather than by scs, which
// would write the session to SQLite on every request.
const seenRefresh = time.Minute

// requireUser admits a logged-in user whose session is not idle, whose
// account still exists and whose password has not changed since login; the
// role is read fresh on every request so a change takes effect at once.
func (s *Server) requireUser(c *fiber.Ctx) error {
	ctx := c.UserContext()
	name := s.sessions.GetString(ctx, sessUser)
	now := time.Now()
	if seen := s.sessions.GetTime(ctx, sessSeen); name != "" && now.Sub(seen) > s.Config.SessionIdle {
		name = "" // idle too long: treated like a deleted user below
	}
	if name != "" {
		u, err := s.Store.GetUserByName(ctx, name)
		switch {
		case err == nil && auth.Fingerprint(u.PasswordHash) == s.sessions.GetString(ctx, sessPass):
			if now.Sub(s.sessions.GetTime(ctx, sessSeen)) > seenRefresh {
				s.sessions.Put(ctx, sessSeen, now)
			}
			// Pages behind a login must not linger in shared caches or the back button.
			c.Set(fiber.HeaderCacheControl, "no-store")
			c.Locals(localUser, u.Username)
			c.Locals(localRole, app.Role(u.Role))
			return c.Next()
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
	}
	if s.sessions.GetString(ctx, sessUser) != "" {
		// Idle, deleted user or reset password: this session is over.
		if err := s.sessions.Destroy(ctx); err != nil {
			return err
		}
	}
	if c.Get("HX-Request") == "true" {
		c.Set("HX-Redirect", "/login")
		return c.SendStatus(fiber.StatusUnauthorized)
	}
	return c.Redirect("/login", fiber.StatusSeeOther)
}

// requireRole refuses users below min; the check is on the server for every
// route, whatever the page shows.
func requireRole(min app.Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if role, _ := c.Locals(localRole).(app.Role); !role.Allows(min) {
			return fiber.NewError(fiber.StatusForbidden, "This needs the "+string(min)+" role.")
		}
		return c.Next()
	}
}

// requireToken admits API calls carrying an active bearer token.
func (s *Server) requireToken(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="deployex"`)
		return fiber.NewError(fiber.StatusUnauthorized, "missing bearer token")
	}
	t, err := s.Store.GetActiveToken(c.UserContext(), auth.HashToken(token))
	if errors.Is(err, sql.ErrNoRows) {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="deployex", error="invalid_token"`)
		return fiber.NewError(fiber.StatusUnauthorized, "invalid or revoked token")
	}
	if err != nil {
		return err
	}
	if err := s.Store.TouchToken(c.UserContext(), t.ID); err != nil {
		s.Log.Warn("recording token use", "token", t.Name, "err", err)
	}
	c.Locals(localUser, "token:"+t.Name)
	c.Locals(localRole, app.Role(t.Role))
	return c.Next()
}
