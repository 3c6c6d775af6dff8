package web

import (
	"context"
	"database/sql"
	"errors"

	"deployex/app"
	"deployex/db"
	"deployex/views"
)

// appViews gathers, for every configured app, what the dashboard and the API
// show: mode and ghosts from the database, live replicas from the fleet.
func (s *Server) appViews(ctx context.Context) ([]views.AppView, error) {
	out := make([]views.AppView, 0, len(s.Config.Apps))
	for _, spec := range s.Config.Apps {
		v, err := s.appView(ctx, spec)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Server) appView(ctx context.Context, spec app.Spec) (views.AppView, error) {
	v := views.AppView{Spec: spec, Mode: app.ModeAutomatic, Ghosted: []string{}}
	row, err := s.Store.GetApp(ctx, spec.Name)
	switch {
	case err == nil:
		v.Mode, v.ManualVersion = app.Mode(row.Mode), row.ManualVersion
	case !errors.Is(err, sql.ErrNoRows):
		return v, err
	}
	ghosts, err := s.Store.ListGhosts(ctx, spec.Name)
	if err != nil {
		return v, err
	}
	for _, g := range ghosts {
		v.Ghosted = append(v.Ghosted, g.Version)
	}
	last, err := s.Store.ListDeployments(ctx, db.ListDeploymentsParams{App: spec.Name, Limit: 1})
	if err != nil {
		return v, err
	}
	if len(last) == 1 {
		d := deploymentView(last[0])
		v.LastDeployment = &d
	}
	if v.Instances, err = s.instanceViews(ctx, spec.Name); err != nil {
		return v, err
	}
	st := s.Deployer.Status(spec.Name)
	v.Deploy = views.DeployStatus{Target: st.Target, Activity: st.Activity, SourceError: st.SourceError, Problem: st.Problem}
	return v, nil
}

func deploymentView(d db.Deployment) views.Deployment {
	out := views.Deployment{
		Version: d.Version, Instance: int(d.Instance), Kind: d.Kind, Trigger: d.Trigger,
		Result: d.Result, Error: d.Error, Started: d.StartedAt,
	}
	if d.FinishedAt.Valid {
		t := d.FinishedAt.Time
		out.Finished = &t
	}
	return out
}

// instanceViews is every replica of appName as its card shows it.
func (s *Server) instanceViews(ctx context.Context, appName string) ([]views.InstanceView, error) {
	rows, err := s.Store.LastDeploymentPerInstance(ctx, appName)
	if err != nil {
		return nil, err
	}
	last := make(map[int]views.Deployment, len(rows))
	for _, r := range rows {
		last[int(r.Instance)] = deploymentView(r)
	}
	// deployex's node speaks TLS only when a certificate folder is set.
	mtls := s.Config.OTPDistribution && s.Config.OTPTLSCertPath != ""
	insts := s.Fleet.Instances(appName)
	out := make([]views.InstanceView, len(insts))
	for i, inst := range insts {
		out[i] = views.InstanceView{Instance: inst, MTLS: mtls}
		if d, ok := last[inst.Instance]; ok {
			out[i].LastDeployment = &d
		}
	}
	return out, nil
}
