// Package deployer keeps every app on the version its bucket (or an operator)
// asks for: one worker per app polls current.json, downloads and unpacks the
// release, rolls it out replica by replica through the supervisor, and rolls
// back and ghosts a version that does not become stable.
//
// The deployer owns versions and release folders; the supervisor owns the
// processes. Every state change is recorded in the database first and then
// announced on the event bus.
//
// Hot upgrades (with WithUpgrader): a replica is upgraded in its running VM,
// through release_handler over Erlang distribution, when the release carries
// lib/{app}-{to}/ebin/{app}.appup and releases/{to}/relup with an upgrade
// from the version it runs (and, for releases built with Jellyfish, a
// matching jellyfish.json), and its node answers. pre_commands run first,
// from the new release, in VMs of their own. A release release_handler
// refuses before installing is ghosted and the old code keeps running; one
// that fails from install_release on is deployed fully instead. Gleam
// shipments have no release_handler: they always get full deployments. See
// hot.go and hotplan.go.
package deployer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"deployex/app"
	"deployex/app/config"
	"deployex/app/events"
	"deployex/app/otp"
	"deployex/app/release"
	"deployex/db"
)

// Replicas is what the deployer asks of the supervisor.
type Replicas interface {
	Stop(ctx context.Context, appName string, n int) error
	Start(ctx context.Context, appName string, n int) error
	WaitStable(ctx context.Context, appName string, n int) error
	RunPreCommands(ctx context.Context, appName string, n int, cmds []string) error
	// RunPreCommandsFrom runs cmds from dir while the replica keeps running.
	RunPreCommandsFrom(ctx context.Context, appName string, n int, dir string, cmds []string) error
	// Instances is a snapshot of appName's replicas (node, status, OS pid), in order.
	Instances(appName string) []app.Instance
}

// Upgrader hot-upgrades a replica's running node over Erlang distribution;
// *otp.Node is one. Probe must answer before an upgrade is tried, so a node
// deployex cannot reach gets a full deployment rather than a ghosted version.
type Upgrader interface {
	Probe(ctx context.Context, node string) error
	HotUpgrade(ctx context.Context, node string, r otp.Release, progress func(otp.Step, error)) error
}

// Option changes how New builds a Deployer.
type Option func(*Deployer)

// WithUpgrader turns hot upgrades on: a release that carries an appup and a
// relup from the version a replica runs is installed on its running node
// through u. Pass a started node, never a nil pointer. Without this option
// every deployment is a full one.
func WithUpgrader(u Upgrader) Option { return func(d *Deployer) { d.upgrader = u } }

// Status is what the dashboard shows about an app's deployments.
type Status struct {
	Source      string // the bucket, e.g. s3://releases
	Target      string // the version the app should run; empty until one is known
	Activity    string // what the worker is doing now, e.g. "deploying 1.2.0: replica 2 of 3 waiting to become stable"
	SourceError string // the last failure to read the bucket, cleared by a good read
	Problem     string // the last malformed current.json or refused tarball
}

// Deployer runs one worker per app.
type Deployer struct {
	cfg      *config.Config
	store    *db.Store
	bus      *events.Bus
	log      *slog.Logger
	src      release.Source
	sup      Replicas
	upgrader Upgrader // nil: full deployments only
	workers  map[string]*worker
	now      func() time.Time
}

// New prepares a worker for every configured app; Run starts them.
func New(cfg *config.Config, store *db.Store, bus *events.Bus, src release.Source, sup Replicas, log *slog.Logger, opts ...Option) *Deployer {
	d := &Deployer{cfg: cfg, store: store, bus: bus, log: log.With("component", "deployer"), src: src, sup: sup,
		workers: map[string]*worker{}, now: time.Now}
	for _, o := range opts {
		o(d)
	}
	for _, spec := range cfg.Apps {
		d.workers[spec.Name] = newWorker(d, spec)
	}
	return d
}

// Run polls and deploys until ctx ends.
func (d *Deployer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, w := range d.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx)
		}()
	}
	wg.Wait()
}

// Status reports what the worker of appName is doing.
func (d *Deployer) Status(appName string) Status {
	w, ok := d.workers[appName]
	if !ok {
		return Status{}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// ErrUnknownApp: no app of that name is configured.
var ErrUnknownApp = errors.New("unknown app")

// BadRequestError is a refused operator request, with the reason to show.
type BadRequestError struct{ Reason string }

func (e *BadRequestError) Error() string { return e.Reason }

// SetMode pins appName to version (manual) or returns it to following the
// bucket (automatic), records who asked, and wakes the worker.
func (d *Deployer) SetMode(ctx context.Context, appName string, mode app.Mode, version, actor string) error {
	w, ok := d.workers[appName]
	if !ok {
		return ErrUnknownApp
	}
	err := d.setMode(ctx, w, mode, version)
	target := appName
	if version != "" {
		target += " " + version
	}
	d.audit(ctx, actor, "set_mode_"+string(mode), target, err)
	if err != nil {
		return err
	}
	w.poke()
	d.publish(appName, 0, "mode "+string(mode))
	return nil
}

func (d *Deployer) setMode(ctx context.Context, w *worker, mode app.Mode, version string) error {
	switch mode {
	case app.ModeAutomatic:
		version = ""
	case app.ModeManual:
		if err := release.ValidVersion(version); err != nil {
			return &BadRequestError{err.Error()}
		}
		ghosted, err := d.store.IsGhosted(ctx, db.IsGhostedParams{App: w.spec.Name, Version: version})
		if err != nil {
			return err
		}
		if ghosted {
			return &BadRequestError{fmt.Sprintf("version %s is ghosted; clear it first", version)}
		}
		if _, err := d.src.Stat(ctx, w.spec.Name, version); err != nil {
			if errors.Is(err, release.ErrNotFound) {
				return &BadRequestError{fmt.Sprintf("version %s is not in %s", version, d.src)}
			}
			return err
		}
	default:
		return &BadRequestError{fmt.Sprintf("unknown mode %q (want automatic or manual)", mode)}
	}
	return d.store.SetAppMode(ctx, db.SetAppModeParams{Mode: string(mode), ManualVersion: version, Name: w.spec.Name})
}

// ClearGhost lets a ghosted version (or, with version "", every ghosted
// version) of appName be deployed again.
func (d *Deployer) ClearGhost(ctx context.Context, appName, version, actor string) error {
	w, ok := d.workers[appName]
	if !ok {
		return ErrUnknownApp
	}
	var n int64
	var err error
	if version == "" {
		n, err = d.store.DeleteAllGhosts(ctx, appName)
	} else {
		n, err = d.store.DeleteGhost(ctx, db.DeleteGhostParams{App: appName, Version: version})
		if err == nil && n == 0 {
			err = &BadRequestError{fmt.Sprintf("version %s is not ghosted", version)}
		}
	}
	target := appName + " " + version
	if version == "" {
		target = appName + " (all)"
	}
	d.audit(ctx, actor, "clear_ghost", target, err)
	if err != nil {
		return err
	}
	w.poke()
	d.publish(appName, 0, fmt.Sprintf("%d ghost(s) cleared", n))
	return nil
}

// Choice is a version an operator may pin.
type Choice struct {
	Version  string
	InBucket bool
	Deployed bool // reached a replica before
}

// Choices lists the versions from the history and the bucket, newest first.
// A bucket that cannot be listed leaves the history alone and says why.
func (d *Deployer) Choices(ctx context.Context, appName string) ([]Choice, error) {
	if _, ok := d.workers[appName]; !ok {
		return nil, ErrUnknownApp
	}
	hist, err := d.store.ListHistoryVersions(ctx, appName)
	if err != nil {
		return nil, err
	}
	var out []Choice
	index := map[string]int{}
	for _, h := range hist {
		index[h.Version] = len(out)
		out = append(out, Choice{Version: h.Version, Deployed: true})
	}
	published, listErr := d.src.Versions(ctx, appName)
	for _, p := range published {
		if i, ok := index[p.Version]; ok {
			out[i].InBucket = true
			continue
		}
		index[p.Version] = len(out)
		out = append(out, Choice{Version: p.Version, InBucket: true})
	}
	return out, listErr
}

func (d *Deployer) audit(ctx context.Context, actor, action, target string, err error) {
	result, detail := "ok", ""
	if err != nil {
		result, detail = "failed", err.Error()
	}
	if aerr := d.store.AddAudit(context.WithoutCancel(ctx), db.AddAuditParams{
		Actor: actor, Action: action, Target: target, Result: result, Detail: detail,
	}); aerr != nil {
		d.log.Error("cannot write the audit log", "err", aerr)
	}
}

func (d *Deployer) publish(appName string, n int, msg string) {
	kind := events.AppChanged
	if n > 0 {
		kind = events.InstanceChanged
	}
	d.bus.Publish(events.Event{Kind: kind, App: appName, Instance: n, Message: msg, At: d.now()})
}

// appMode reads the app's mode; an app without a row yet is automatic.
func (d *Deployer) appMode(ctx context.Context, appName string) (app.Mode, string, error) {
	row, err := d.store.GetApp(ctx, appName)
	if errors.Is(err, sql.ErrNoRows) {
		return app.ModeAutomatic, "", nil
	}
	if err != nil {
		return "", "", err
	}
	return app.Mode(row.Mode), row.ManualVersion, nil
}
