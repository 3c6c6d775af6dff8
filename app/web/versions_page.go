package web

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"deployex/db"
	"deployex/views"
)

// versionsPage shows an app's deployment history, or one replica's, and the
// set-version form.
func (s *Server) versionsPage(c *fiber.Ctx) error {
	spec, err := s.appParam(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	v, err := s.appView(ctx, spec)
	if err != nil {
		return err
	}
	// ?instance=N narrows the history to one replica (its card links here).
	replica := 0
	var rows []db.Deployment
	if q := c.Query("instance"); q != "" {
		replica, err = strconv.Atoi(q)
		if err != nil || replica < 1 || replica > spec.Replicas {
			return fiber.NewError(fiber.StatusNotFound, "no replica "+q+" of "+spec.Name)
		}
		rows, err = s.Store.ListInstanceDeployments(ctx, db.ListInstanceDeploymentsParams{App: spec.Name, Instance: int64(replica), Limit: historyLimit})
	} else {
		rows, err = s.Store.ListDeployments(ctx, db.ListDeploymentsParams{App: spec.Name, Limit: historyLimit})
	}
	if err != nil {
		return err
	}
	history := make([]views.Deployment, len(rows))
	for i, r := range rows {
		history[i] = deploymentView(r)
	}
	var choices []views.VersionChoice
	var listErr string
	if s.page(c, "", "").CanOperate() {
		all, err := s.Deployer.Choices(ctx, spec.Name)
		if err != nil {
			listErr = err.Error()
		}
		// Only what the bucket holds can be deployed: history alone has no tarball.
		for _, ch := range all {
			if ch.InBucket {
				choices = append(choices, views.VersionChoice{Version: ch.Version, InBucket: true, Deployed: ch.Deployed})
			}
		}
	}
	return render(c, fiber.StatusOK, views.Versions(s.page(c, spec.Name+" versions", "dashboard"), v, choices, history, replica, listErr))
}
