package web

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"deployex/app"
)

// restartTimeout bounds a restart running after its request has returned.
const restartTimeout = 10 * time.Minute

// restartInstance asks the supervisor for a forced restart of one replica.
// It answers at once (303 for the page, 202 for the API); the card shows the
// progress live and the supervisor writes the audit entry.
func (s *Server) restartInstance(c *fiber.Ctx) error {
	spec, n, err := s.instanceParam(c)
	if err != nil {
		return err
	}
	who := actor(c)
	s.background(func(ctx context.Context) error { return s.Fleet.Restart(ctx, spec.Name, n, who) },
		"restart", "app", spec.Name, "instance", n)
	return s.accepted(c, fmt.Sprintf("restarting %s", app.NodeShortName(spec.Name, n)))
}

// restartApp restarts every replica of an app, one after the other.
func (s *Server) restartApp(c *fiber.Ctx) error {
	spec, err := s.appParam(c)
	if err != nil {
		return err
	}
	who := actor(c)
	s.background(func(ctx context.Context) error { return s.Fleet.RestartApp(ctx, spec.Name, who) },
		"restart app", "app", spec.Name)
	return s.accepted(c, "restarting every replica of "+spec.Name)
}

// appParam resolves the :app route parameter to a configured app.
func (s *Server) appParam(c *fiber.Ctx) (app.Spec, error) {
	spec, ok := s.Config.App(c.Params("app"))
	if !ok {
		return spec, fiber.NewError(fiber.StatusNotFound, "unknown app "+c.Params("app"))
	}
	return spec, nil
}

// instanceParam resolves the :app and :n route parameters to a configured replica.
func (s *Server) instanceParam(c *fiber.Ctx) (app.Spec, int, error) {
	spec, err := s.appParam(c)
	if err != nil {
		return spec, 0, err
	}
	n, err := strconv.Atoi(c.Params("n"))
	if err != nil || n < 1 || n > spec.Replicas {
		return spec, 0, fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("%s has no replica %q", spec.Name, c.Params("n")))
	}
	return spec, n, nil
}

// background runs a long action after the request returns, logging its failure.
func (s *Server) background(action func(context.Context) error, what string, attrs ...any) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), restartTimeout)
		defer cancel()
		if err := action(ctx); err != nil {
			s.Log.Warn(what+" failed", append(attrs, "err", err)...)
		}
	}()
}

// accepted answers an asynchronous action: 202 JSON for the API, back to the
// dashboard for a page.
func (s *Server) accepted(c *fiber.Ctx, msg string) error {
	if isAPI(c) {
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"status": "accepted", "message": msg})
	}
	return c.Redirect("/", fiber.StatusSeeOther)
}
