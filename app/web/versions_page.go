package web

import (
	"github.com/gofiber/fiber/v2"

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
	history, replica, err := s.history(c, spec)
	if err != nil {
		return err
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
