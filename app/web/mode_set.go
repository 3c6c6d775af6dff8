package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"deployex/app"
	"deployex/app/deployer"
)

// setMode pins an app to a version (manual) or returns it to the bucket
// (automatic). The page posts a form; the API PUTs {"mode", "version"}.
func (s *Server) setMode(c *fiber.Ctx) error {
	spec, err := s.appParam(c)
	if err != nil {
		return err
	}
	var req struct {
		Mode    string `json:"mode" form:"mode"`
		Version string `json:"version" form:"version"`
	}
	if err := c.BodyParser(&req); err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "want {\"mode\": \"manual\", \"version\": \"…\"} or {\"mode\": \"automatic\"}")
	}
	err = s.Deployer.SetMode(c.UserContext(), spec.Name, app.Mode(req.Mode), req.Version, actor(c))
	if err := deployerError(err); err != nil {
		return err
	}
	if isAPI(c) {
		return c.JSON(fiber.Map{"status": "ok", "mode": req.Mode, "version": req.Version})
	}
	return c.Redirect("/apps/"+spec.Name+"/versions", fiber.StatusSeeOther)
}

// deployerError maps the deployer's refusals to HTTP statuses.
func deployerError(err error) error {
	var bad *deployer.BadRequestError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &bad):
		return fiber.NewError(fiber.StatusUnprocessableEntity, bad.Reason)
	case errors.Is(err, deployer.ErrUnknownApp):
		return fiber.NewError(fiber.StatusNotFound, err.Error())
	}
	return err
}
