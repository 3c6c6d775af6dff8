package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"deployex/app/config"
	"deployex/app/events"
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
	warnNoVersion(cfg, log)

	addr := net.JoinHostPort(listenHost(cfg), strconv.Itoa(cfg.HTTPPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("cannot listen", "addr", addr, "err", err)
		return exitFail
	}
	bus := events.NewBus()
	sup := supervisor.New(cfg, store, bus, log)
	supervised := make(chan error, 1)
	go func() { supervised <- sup.Run(ctx) }()

	srv := web.New(web.Deps{Config: cfg, Store: store, Fleet: sup, Bus: bus, Log: log, Version: Version})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("deployex started", "version", Version, "listen", addr, "environment", cfg.Environment,
		"apps", len(cfg.Apps), "data", cfg.DataDir)

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
	// Stopping every replica takes up to the stop timeout each, in parallel.
	supCtx, cancelSup := context.WithTimeout(context.Background(), cfg.StopTimeout+30*time.Second)
	defer cancelSup()
	if err := sup.Shutdown(supCtx, *stopApps); err != nil {
		log.Error("supervisor shutdown", "err", err)
		code = exitFail
	}
	return code
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

// warnNoVersion tells a first-time local user where deployex looks for a release.
func warnNoVersion(cfg *config.Config, log interface{ Warn(string, ...any) }) {
	if cfg.ReleaseAdapter != config.AdapterLocal {
		return
	}
	for _, a := range cfg.Apps {
		p := filepath.Join(cfg.ReleaseBucket, "versions", a.Name, cfg.Environment, "current.json")
		if _, err := os.Stat(p); err != nil {
			log.Warn("no version available yet", "app", a.Name, "expected", p)
		}
	}
}
