package web

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"deployex/app"
	"deployex/db"
	"deployex/views"
)

const historyLimit = 200

// apiVersions lists the deployment history of an app, or with ?instance=N
// of one replica, newest first.
func (s *Server) apiVersions(c *fiber.Ctx) error {
	spec, err := s.appParam(c)
	if err != nil {
		return err
	}
	history, _, err := s.history(c, spec)
	if err != nil {
		return err
	}
	out := make([]*apiDeployment, len(history))
	for i, d := range history {
		out[i] = toAPIDeployment(d)
	}
	return c.JSON(fiber.Map{"app": spec.Name, "versions": out})
}

// history reads the newest historyLimit deployments of spec; a query
// parameter instance=N narrows them to replica N (0 when absent). An N that
// names no replica is a 404.
func (s *Server) history(c *fiber.Ctx, spec app.Spec) ([]views.Deployment, int, error) {
	ctx := c.UserContext()
	replica := 0
	var rows []db.Deployment
	var err error
	if q := c.Query("instance"); q != "" {
		replica, err = strconv.Atoi(q)
		if err != nil || replica < 1 || replica > spec.Replicas {
			return nil, 0, fiber.NewError(fiber.StatusNotFound, "no replica "+q+" of "+spec.Name)
		}
		rows, err = s.Store.ListInstanceDeployments(ctx, db.ListInstanceDeploymentsParams{App: spec.Name, Instance: int64(replica), Limit: historyLimit})
	} else {
		rows, err = s.Store.ListDeployments(ctx, db.ListDeploymentsParams{App: spec.Name, Limit: historyLimit})
	}
	if err != nil {
		return nil, 0, err
	}
	out := make([]views.Deployment, len(rows))
	for i, r := range rows {
		out[i] = deploymentView(r)
	}
	return out, replica, nil
}
