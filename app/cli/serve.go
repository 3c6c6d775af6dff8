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
	_ = stopApps // wired to the supervisor when it lands
	cfg, code := loadConfig(e)
	if cfg == nil {
		return code
	}
	for _, check := range []func() error{cfg.CheckSecrets, func() error { return checkAdminHash(cfg) }} {
		if err := check(); err != nil {
			fmt.Fprintln(e.Stderr, "deployex:", err)
			return exitConfig
		}
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
	srv := web.New(web.Deps{Config: cfg, Store: store, Fleet: web.StoredFleet(store, log), Bus: events.NewBus(), Log: log, Version: Version})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("deployex started", "version", Version, "listen", addr, "environment", cfg.Environment,
		"apps", len(cfg.Apps), "data", cfg.DataDir)

	select {
	case err := <-served:
		log.Error("web server stopped", "err", err)
		return exitFail
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("web shutdown", "err", err)
	}
	<-served
	return exitOK
}

// listenHost binds loopback only in local mode; production listens on all
// interfaces, normally behind a TLS proxy.
func listenHost(cfg *config.Config) string {
	if cfg.Local() {
		return "127.0.0.1"
	}
	return ""
}

// seed makes the database match the configuration: the admin account, and a
// row per app and replica.
func seed(ctx context.Context, store *db.Store, cfg *config.Config) error {
	return store.Tx(ctx, func(q *db.Queries) error {
		if err := q.UpsertAdmin(ctx, db.UpsertAdminParams{Username: "admin", PasswordHash: cfg.AdminHash}); err != nil {
			return err
		}
		for _, a := range cfg.Apps {
			if err := q.EnsureApp(ctx, db.EnsureAppParams{Name: a.Name, Language: string(a.Language)}); err != nil {
				return err
			}
			for n := 1; n <= a.Replicas; n++ {
				if err := q.EnsureInstance(ctx, db.EnsureInstanceParams{App: a.Name, Instance: int64(n), Port: int64(a.Port(n))}); err != nil {
					return err
				}
			}
			if err := q.DeleteInstancesAbove(ctx, db.DeleteInstancesAboveParams{App: a.Name, Instance: int64(a.Replicas)}); err != nil {
				return err
			}
		}
		return nil
	})
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
