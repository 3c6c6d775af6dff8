package web

import "github.com/gofiber/fiber/v2"

// clearGhost lets one ghosted version (or all, without :version) be deployed again.
func (s *Server) clearGhost(c *fiber.Ctx) error {
	spec, err := s.appParam(c)
	if err != nil {
		return err
	}
	version := c.Params("version")
	if err := deployerError(s.Deployer.ClearGhost(c.UserContext(), spec.Name, version, actor(c))); err != nil {
		return err
	}
	if isAPI(c) {
		return c.JSON(fiber.Map{"status": "ok"})
	}
	return c.Redirect("/apps/"+spec.Name+"/ghosts", fiber.StatusSeeOther)
}
