package web

import (
	"github.com/gofiber/fiber/v2"

	"deployex/db"
)

// audit records an action; a failure to record is logged, never hidden.
func (s *Server) audit(c *fiber.Ctx, actor, action, target, result, detail string) {
	err := s.Store.AddAudit(c.UserContext(), db.AddAuditParams{
		Actor: actor, Action: action, Target: target, Result: result, Detail: detail,
	})
	if err != nil {
		s.Log.Error("writing audit log", "actor", actor, "action", action, "err", err)
	}
}

// actor is who the current request acts for.
func actor(c *fiber.Ctx) string {
	u, _ := c.Locals(localUser).(string)
	return u
}
