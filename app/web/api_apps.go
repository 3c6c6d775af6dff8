package web

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"deployex/app"
	"deployex/views"
)

// apiApp is the contract of GET /api/v1/apps (DESIGN.md §3).
type apiApp struct {
	Name          string        `json:"name"`
	Language      app.Language  `json:"language"`
	Mode          app.Mode      `json:"mode"`
	ManualVersion string        `json:"manual_version"`
	Ghosted       []string      `json:"ghosted"`
	Instances     []apiInstance `json:"instances"`
}

type apiInstance struct {
	app.Instance
	LastDeployment *apiDeployment `json:"last_deployment"`
	UptimeS        int64          `json:"uptime_s"`
}

type apiDeployment struct {
	Version    string     `json:"version"`
	Instance   int        `json:"instance"`
	Kind       string     `json:"kind"`
	Trigger    string     `json:"trigger"`
	Result     string     `json:"result"`
	Error      string     `json:"error,omitempty"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

func toAPIDeployment(d views.Deployment) *apiDeployment {
	return &apiDeployment{Version: d.Version, Instance: d.Instance, Kind: d.Kind, Trigger: d.Trigger,
		Result: d.Result, Error: d.Error, StartedAt: d.Started, FinishedAt: d.Finished}
}

func (s *Server) apiApps(c *fiber.Ctx) error {
	ctx := c.UserContext()
	views, err := s.appViews(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	out := make([]apiApp, 0, len(views))
	for _, v := range views {
		a := apiApp{Name: v.Spec.Name, Language: v.Spec.Language, Mode: v.Mode, ManualVersion: v.ManualVersion,
			Ghosted: v.Ghosted, Instances: make([]apiInstance, 0, len(v.Instances))}
		for _, inst := range v.Instances {
			ai := apiInstance{Instance: inst.Instance, UptimeS: int64(inst.Uptime(now).Seconds())}
			if inst.LastDeployment != nil {
				ai.LastDeployment = toAPIDeployment(*inst.LastDeployment)
			}
			a.Instances = append(a.Instances, ai)
		}
		out = append(out, a)
	}
	return c.JSON(fiber.Map{"apps": out})
}
