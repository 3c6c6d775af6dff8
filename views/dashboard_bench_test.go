package views

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"deployex/app"
)

// BenchmarkDashboard renders the dashboard of 3 apps × 10 replicas (target p50 < 2 ms).
func BenchmarkDashboard(b *testing.B) {
	now := time.Now()
	var apps []AppView
	for a := 0; a < 3; a++ {
		v := AppView{Spec: app.Spec{Name: fmt.Sprintf("app%d", a), Language: app.Elixir, Replicas: 10},
			Mode: app.ModeAutomatic, Ghosted: []string{"1.0.1"},
			LastDeployment: &Deployment{Version: "1.0.2", Kind: "full_deployment", Result: "ok", Started: now.Add(-time.Hour)}}
		for n := 1; n <= 10; n++ {
			v.Instances = append(v.Instances, InstanceView{Instance: app.Instance{Instance: n, Status: app.StatusRunning, Version: "1.0.2",
				OSPid: 1000 + n, Port: 4000 + n, OTP: "connected", StartedAt: now.Add(-time.Hour), CrashRestarts: n},
				MTLS: true, LastDeployment: &Deployment{Version: "1.0.2", Instance: n, Kind: "hot_upgrade", Result: "ok", Started: now.Add(-time.Hour)}})
		}
		apps = append(apps, v)
	}
	p := Page{Title: "Apps", User: "admin", Role: app.RoleAdmin, CSRF: "token"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := Dashboard(p, System{}, apps, now).Render(ctx, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
