package web

import (
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"deployex/app"
)

// metrics serves the replicas' state in Prometheus text format, for a bearer
// token or a logged-in session.
func (s *Server) metrics(c *fiber.Ctx) error {
	var b strings.Builder
	now := time.Now()
	gauge := func(name, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
	}
	type sample struct {
		inst app.Instance
		app  string
	}
	var all []sample
	for _, spec := range s.Config.Apps {
		for _, inst := range s.Fleet.Instances(spec.Name) {
			all = append(all, sample{inst, spec.Name})
		}
	}
	series := []struct {
		name, help string
		value      func(app.Instance) float64
	}{
		{"deployex_instance_running", "1 when the replica's OS process is running.", func(i app.Instance) float64 { return b2f(i.Status == app.StatusRunning) }},
		{"deployex_instance_stable", "1 when the replica has been up for the ready period (and connected).", func(i app.Instance) float64 { return b2f(i.Stable) }},
		{"deployex_instance_crash_restarts", "Restarts after a crash, since the replica was created.", func(i app.Instance) float64 { return float64(i.CrashRestarts) }},
		{"deployex_instance_forced_restarts", "Restarts asked for by a user or the deployer.", func(i app.Instance) float64 { return float64(i.ForcedRestarts) }},
		{"deployex_instance_uptime_seconds", "Uptime of the replica's current OS process.", func(i app.Instance) float64 { return i.Uptime(now).Seconds() }},
	}
	for _, sr := range series {
		gauge(sr.name, sr.help)
		for _, smp := range all {
			fmt.Fprintf(&b, "%s{app=%q,instance=\"%d\",version=%q} %g\n", sr.name, smp.app, smp.inst.Instance, smp.inst.Version, sr.value(smp.inst))
		}
	}
	gauge("deployex_uptime_seconds", "Uptime of deployex itself.")
	fmt.Fprintf(&b, "deployex_uptime_seconds %g\n", now.Sub(s.started).Seconds())
	c.Type("txt", "utf-8")
	c.Set(fiber.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	return c.SendString(b.String())
}

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// tokenOrSession admits a bearer token, or else a logged-in session.
func (s *Server) tokenOrSession(c *fiber.Ctx) error {
	if c.Get(fiber.HeaderAuthorization) != "" {
		return s.requireToken(c)
	}
	return s.loadSession(c)
}

// requireUserUnlessToken follows tokenOrSession: a token already identified
// the caller; otherwise the session must hold a user.
func (s *Server) requireUserUnlessToken(c *fiber.Ctx) error {
	if actor(c) != "" {
		return c.Next()
	}
	return s.requireUser(c)
}
