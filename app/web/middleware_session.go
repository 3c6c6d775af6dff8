package web

import (
	"encoding/gob"
	"net/http"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gofiber/fiber/v2"
)

// Session keys.
const (
	sessUser = "user"
	sessPass = "pwfp" // fingerprint of the password hash at login
	sessCSRF = "csrf"
	sessSeen = "seen" // last request, for the idle timeout
)

// scs stores session values with encoding/gob, which must know the concrete
// types held in its map of interfaces.
func init() { gob.Register(time.Time{}) }

// localSession marks requests that went through loadSession.
const localSession = "session"

// loadSession binds the scs session to the request and writes the cookie
// back. scs's own LoadAndSave is net/http middleware and commits before a
// Fiber handler runs, so this does the same steps around c.Next().
func (s *Server) loadSession(c *fiber.Ctx) error {
	ctx, err := s.sessions.Load(c.UserContext(), c.Cookies(s.sessions.Cookie.Name))
	if err != nil {
		return err
	}
	c.SetUserContext(ctx)
	c.Locals(localSession, true)
	c.Vary(fiber.HeaderCookie)
	if err := c.Next(); err != nil {
		// The error handler renders the page; the session is still saved so a
		// CSRF token created for that page stays valid.
		s.handleError(c, err)
	}
	sink := headerSink{}
	switch s.sessions.Status(ctx) {
	case scs.Modified:
		token, expiry, err := s.sessions.Commit(ctx)
		if err != nil {
			return err
		}
		s.sessions.WriteSessionCookie(ctx, sink, token, expiry)
	case scs.Destroyed:
		s.sessions.WriteSessionCookie(ctx, sink, "", time.Time{})
	}
	secure := s.isHTTPS(c)
	for _, v := range sink.Header()["Set-Cookie"] {
		if secure && !strings.Contains(v, "; Secure") {
			v += "; Secure"
		}
		c.Response().Header.Add(fiber.HeaderSetCookie, v)
	}
	// A page that already said no-store is stricter than scs's no-cache="Set-Cookie".
	if v := sink.Header().Get(fiber.HeaderCacheControl); v != "" && len(c.Response().Header.Peek(fiber.HeaderCacheControl)) == 0 {
		c.Response().Header.Set(fiber.HeaderCacheControl, v)
	}
	return nil
}

// isHTTPS trusts X-Forwarded-Proto only when configured to sit behind a proxy.
func (s *Server) isHTTPS(c *fiber.Ctx) bool {
	if c.Context().IsTLS() {
		return true
	}
	return s.Config.BehindTLSProxy && strings.EqualFold(c.Get(fiber.HeaderXForwardedProto), "https")
}

// headerSink collects the headers scs writes through the net/http interface.
type headerSink http.Header

func (h headerSink) Header() http.Header         { return http.Header(h) }
func (h headerSink) Write(b []byte) (int, error) { return len(b), nil }
func (h headerSink) WriteHeader(int)             {}
