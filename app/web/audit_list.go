package web

import (
	"math"

	"github.com/gofiber/fiber/v2"

	"deployex/db"
	"deployex/views"
)

const auditPageSize = 50

// auditLog pages backwards by id so new entries never shift a page being read.
func (s *Server) auditLog(c *fiber.Ctx) error {
	before := int64(c.QueryInt("before", 0))
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.Store.ListAudit(c.UserContext(), db.ListAuditParams{ID: before, Limit: auditPageSize + 1})
	if err != nil {
		return err
	}
	var next int64
	if len(rows) > auditPageSize {
		rows = rows[:auditPageSize]
		next = rows[len(rows)-1].ID
	}
	out := make([]views.AuditRow, len(rows))
	for i, r := range rows {
		out[i] = views.AuditRow{ID: r.ID, At: r.At, Actor: r.Actor, Action: r.Action, Target: r.Target, Result: r.Result, Detail: r.Detail}
	}
	return render(c, fiber.StatusOK, views.Audit(s.page(c, "Audit log", "audit"), out, next))
}
