// Package cli is deployex's command line: it parses the subcommand, loads the
// configuration and wires the parts together.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"deployex/app/config"
	"deployex/db"
)

// Version is set at build time with -ldflags "-X deployex/app/cli.Version=…".
var Version = "0.1.0-dev"

// Exit codes.
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2
)

const usage = `deployex — supervises and deploys BEAM releases

usage:
  deployex [serve] [--stop-apps-on-exit]   run the supervisor, deployer and web UI (default)
  deployex hash-password                    read a password on stdin, print its bcrypt hash
  deployex token create --name NAME --role admin|operator|viewer
  deployex token list
  deployex token revoke NAME
  deployex backup FILE                      write a consistent copy of the database (safe while serving)
  deployex gen-certs DIR [--host NAME]... [--force]
                                            write a CA and a node certificate for mTLS distribution
  deployex version
`

// Env is the process environment as the commands see it.
type Env struct {
	Args   []string
	Getenv config.Getenv
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Run executes one command line and returns the process exit code.
func Run(ctx context.Context, e Env) int {
	cmd, rest := "serve", e.Args
	if len(rest) > 0 && (rest[0] == "" || rest[0][0] != '-') {
		cmd, rest = rest[0], rest[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, e, rest)
	case "hash-password":
		return hashPassword(e)
	case "token":
		return token(ctx, e, rest)
	case "backup":
		return backup(ctx, e, rest)
	case "gen-certs":
		return genCerts(e, rest)
	case "version":
		fmt.Fprintln(e.Stdout, "deployex", Version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(e.Stdout, usage)
		return exitOK
	}
	fmt.Fprintf(e.Stderr, "deployex: unknown command %q\n\n%s", cmd, usage)
	return exitConfig
}

// loadConfig returns the configuration or prints why not.
func loadConfig(e Env) (*config.Config, int) {
	cfg, err := config.Load(e.Getenv)
	if err != nil {
		fmt.Fprintln(e.Stderr, "deployex:", err)
		return nil, exitConfig
	}
	return cfg, exitOK
}

// withStore runs fn on the database the configuration names, for the
// commands that only use the database.
func withStore(ctx context.Context, e Env, fn func(*db.Store) int) int {
	cfg, code := loadConfig(e)
	if cfg == nil {
		return code
	}
	store, code := openStore(ctx, e, cfg)
	if store == nil {
		return code
	}
	defer store.Close()
	return fn(store)
}

// openStore opens the database named by the configuration.
func openStore(ctx context.Context, e Env, cfg *config.Config) (*db.Store, int) {
	store, err := db.Open(ctx, cfg.DBPath())
	if err != nil {
		fmt.Fprintln(e.Stderr, "deployex:", err)
		return nil, exitFail
	}
	return store, exitOK
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// OSEnv is the real process environment.
func OSEnv() Env {
	return Env{Args: os.Args[1:], Getenv: os.LookupEnv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
}
