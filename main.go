// Command deployex supervises and deploys BEAM releases (Elixir, Erlang,
// Gleam) on one host and serves an admin dashboard. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"deployex/app/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, cli.OSEnv())
	stop()
	os.Exit(code)
}
