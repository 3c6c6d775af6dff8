package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"deployex/app/config"
	"deployex/app/deployer"
	"deployex/app/events"
	"deployex/app/hostinfo"
	"deployex/app/logrotate"
	"deployex/app/logtail"
	"deployex/app/memtrim"
	"deployex/app/nodes"
	"deployex/app/release"
	"deployex/app/secrets"
	"deployex/app/supervisor"
	"deployex/app/web"
	"deployex/db"
)

// serve runs deployex until SIGTERM/SIGINT (ctx) ends it.
func serve(ctx context.Context, e Env, args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	stopApps := fs.Bool("stop-apps-on-exit", false, "stop every replica when deployex exits (default: leave them running)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	cfg, code := loadConfig(e)
	if cfg == nil {
		return code
	}
	if err := secrets.Apply(ctx, cfg); err != nil {
		fmt.Fprintln(e.Stderr, "deployex:", err)
		return exitConfig
	}
	if err := cfg.CheckSecrets(); err != nil {
		fmt.Fprintln(e.Stderr, "deployex:", err)
		return exitConfig
	}
	log := newLogger(e.Stderr)
	if cfg.AdminHash == config.LocalAdminHash {
		log.Warn("local mode: the admin password is the default \"deployex\"; set DEPLOYEX_ADMIN_HASHED_PASSWORD before exposing this host")
	}
	store, code := openStore(ctx, e, cfg)
	if store == nil {
		return code
	}
	defer store.Close()
	if err := seed(ctx, store, cfg); err != nil {
		log.Error("preparing the database", "err", err)
		return exitFail
	}

	addr := net.JoinHostPort(listenHost(cfg), strconv.Itoa(cfg.HTTPPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("cannot listen", "addr", addr, "err", err)
		return exitFail
	}
	src, err := release.NewSource(ctx, cfg)
	if err != nil {
		log.Error("cannot use the release bucket", "err", err)
		return exitFail
	}
	// Replicas start with TLS distribution flags naming this file.
	if err := nodes.PrepareTLS(cfg); err != nil {
		log.Error("cannot set up TLS distribution", "err", err)
		return exitConfig
	}
	bus := events.NewBus()
	sup := supervisor.New(cfg, store, bus, log)
	var fleet web.Fleet = sup
	var otpNodes web.Nodes
	var depOpts []deployer.Option
	if cfg.OTPDistribution {
		svc := nodes.New(cfg, bus, sup, log)
		svc.Start(ctx)
		// After the supervisor: replicas it stops are seen to go, and no
		// health probe fails because deployex's own node went first.
		defer svc.Stop()
		fleet, otpNodes = nodes.Fleet{Supervisor: sup, Nodes: svc}, svc
		depOpts = append(depOpts, deployer.WithUpgrader(svc))
	}
	supervised := make(chan error, 1)
	go func() { supervised <- sup.Run(ctx) }()
	dep := deployer.New(cfg, store, bus, src, sup, log, depOpts...)
	deploying := make(chan struct{})
	go func() {
		defer close(deploying)
		dep.Run(ctx)
	}()

	sampler := hostinfo.NewSampler(log, hostinfo.DefaultInterval)
	go sampler.Run(ctx)
	go logrotate.Run(ctx, cfg, log, logrotate.Interval)
	tailer := logtail.New(log)
	// Closed after the web server, whose log streams end on its shutdown.
	defer tailer.Close()

	srv := web.New(web.Deps{Config: cfg, Store: store, Fleet: fleet, Nodes: otpNodes, Deployer: dep, Bus: bus, Log: log,
		Version: Version, Sampler: sampler, Tailer: tailer})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("deployex started", "version", Version, "listen", addr, "environment", cfg.Environment,
		"apps", len(cfg.Apps), "data", cfg.DataDir)
	// After the first rounds of the workers (replicas started, nodes
	// connected, first polls), so what they run every time is not paged
	// out only to be read again.
	trim := time.AfterFunc(startupSettle, func() { releaseStartupPages(log) })
	defer trim.Stop()

	code = exitOK
	select {
	case err := <-served:
		log.Error("web server stopped", "err", err)
		code = exitFail
	case err := <-supervised:
		if ctx.Err() == nil {
			log.Error("supervisor stopped", "err", err)
			code = exitFail
		}
	case <-ctx.Done():
	}
	log.Info("shutting down", "stop_apps", *stopApps)
	webCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(webCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("web shutdown", "err", err)
	}
	<-deploying // a rollout in progress records where it stopped
	// Stopping every replica takes up to the stop timeout each, in parallel.
	supCtx, cancelSup := context.WithTimeout(context.Background(), cfg.StopTimeout+30*time.Second)
	defer cancelSup()
	if err := sup.Shutdown(supCtx, *stopApps); err != nil {
		log.Error("supervisor shutdown", "err", err)
		code = exitFail
	}
	return code
}

// startupSettle is how long after serving starts the start-up pages go.
const startupSettle = 5 * time.Second

// releaseStartupPages hands the binary's start-up-only pages back to the
// kernel; deployex runs for months, its initialisation once.
func releaseStartupPages(log *slog.Logger) {
	res, err := memtrim.ReleaseStartupPages()
	if err != nil {
		log.Warn("releasing start-up pages", "err", err)
		return
	}
	log.Info("released start-up pages", "ranges", res.Ranges,
		"resident_before_kib", res.ResidentBefore>>10, "resident_after_kib", res.ResidentAfter>>10)
}

// listenHost binds loopback only in local mode; production listens on all
// interfaces, normally behind a TLS proxy.
func listenHost(cfg *config.Config) string {
	if cfg.Local() {
		return "127.0.0.1"
	}
	return ""
}

// seed applies the configured admin account; the supervisor records apps and replicas.
func seed(ctx context.Context, store *db.Store, cfg *config.Config) error {
	return store.UpsertAdmin(ctx, db.UpsertAdminParams{Username: "admin", PasswordHash: cfg.AdminHash})
}
