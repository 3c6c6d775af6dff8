package cli

import (
	"context"
	"fmt"

	"deployex/db"
)

// backup copies the live database with VACUUM INTO, which reads a consistent
// snapshot while the server keeps writing.
func backup(ctx context.Context, e Env, args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(e.Stderr, "usage: deployex backup FILE")
		return exitConfig
	}
	return withStore(ctx, e, func(store *db.Store) int {
		if err := store.Backup(ctx, args[0]); err != nil {
			fmt.Fprintln(e.Stderr, "deployex:", err)
			return exitFail
		}
		audit(ctx, store, "backup", args[0], "")
		fmt.Fprintln(e.Stdout, "backup written to", args[0])
		return exitOK
	})
}
