package web

import (
	"github.com/gofiber/fiber/v2"

	"deployex/db"
)

const historyLimit = 200

// apiVersions lists the deployment history of an app, newest first.
func (s *Server) apiVersions(c *fiber.Ctx) error {
	name := c.Params("app")
	if _, ok := s.Config.App(name); !ok {
		return fiber.NewError(fiber.StatusNotFound, "unknown app "+name)
	}
	rows, err := s.Store.ListDeployments(c.UserContext(), db.ListDeploymentsParams{App: name, Limit: historyLimit})
	if err != nil {
		return err
	}
	out := make([]*apiDeployment, len(rows))
	for i, r := range rows {
		out[i] = toAPIDeployment(deploymentView(r))
	}
	return c.JSON(fiber.Map{"app": name, "versions": out})
}
