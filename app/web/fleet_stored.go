package web

import (
	"context"
	"log/slog"

	"deployex/app"
	"deployex/db"
)

// StoredFleet reads replicas from the database: what the dashboard shows
// before a supervisor is running.
func StoredFleet(store *db.Store, log *slog.Logger) Fleet { return storedFleet{store, log} }

type storedFleet struct {
	store *db.Store
	log   *slog.Logger
}

func (f storedFleet) Instances(appName string) []app.Instance {
	rows, err := f.store.ListInstances(context.Background(), appName)
	if err != nil {
		f.log.Error("reading instances", "app", appName, "err", err)
		return nil
	}
	out := make([]app.Instance, len(rows))
	for i, r := range rows {
		out[i] = app.Instance{
			App: r.App, Instance: int(r.Instance), Status: app.Status(r.Status), Version: r.Version,
			Port: int(r.Port), CrashRestarts: int(r.CrashRestarts), ForcedRestarts: int(r.ForcedRestarts),
			LastError: r.LastError, OTP: "disconnected",
		}
	}
	return out
}
