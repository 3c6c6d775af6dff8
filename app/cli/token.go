package cli

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"deployex/app"
	"deployex/app/auth"
	"deployex/db"
)

func token(ctx context.Context, e Env, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(e.Stderr, "deployex token: want create, list or revoke\n\n"+usage)
		return exitConfig
	}
	return withStore(ctx, e, func(store *db.Store) int {
		return tokenCommand(ctx, e, store, args)
	})
}

func tokenCommand(ctx context.Context, e Env, store *db.Store, args []string) int {
	switch args[0] {
	case "create":
		return tokenCreate(ctx, e, store, args[1:])
	case "list":
		return tokenList(ctx, e, store)
	case "revoke":
		if len(args) != 2 {
			fmt.Fprintln(e.Stderr, "usage: deployex token revoke NAME")
			return exitConfig
		}
		n, err := store.RevokeToken(ctx, args[1])
		if err != nil {
			fmt.Fprintln(e.Stderr, "deployex:", err)
			return exitFail
		}
		if n == 0 {
			fmt.Fprintf(e.Stderr, "deployex: no active token named %q\n", args[1])
			return exitFail
		}
		audit(ctx, store, "token_revoke", args[1], "")
		fmt.Fprintf(e.Stdout, "token %q revoked\n", args[1])
		return exitOK
	}
	fmt.Fprintf(e.Stderr, "deployex token: unknown subcommand %q\n", args[0])
	return exitConfig
}

func tokenCreate(ctx context.Context, e Env, store *db.Store, args []string) int {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	name := fs.String("name", "", "a name to recognise the token by (required)")
	roleFlag := fs.String("role", "viewer", "admin, operator or viewer")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	role, err := app.ParseRole(*roleFlag)
	if err == nil {
		err = auth.ValidUsername(*name)
	}
	if err != nil {
		fmt.Fprintln(e.Stderr, "deployex token create:", err)
		return exitConfig
	}
	plain, hash := auth.NewToken()
	if _, err := store.CreateToken(ctx, db.CreateTokenParams{Name: *name, TokenHash: hash, Role: string(role)}); err != nil {
		fmt.Fprintln(e.Stderr, "deployex token create:", err)
		return exitFail
	}
	audit(ctx, store, "token_create", *name, "role "+string(role))
	fmt.Fprintln(e.Stdout, plain)
	fmt.Fprintln(e.Stderr, "This token is shown once; store it now.")
	return exitOK
}

func tokenList(ctx context.Context, e Env, store *db.Store) int {
	rows, err := store.ListTokens(ctx)
	if err != nil {
		fmt.Fprintln(e.Stderr, "deployex:", err)
		return exitFail
	}
	w := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tROLE\tCREATED\tLAST USED\tSTATE")
	for _, t := range rows {
		last, state := "never", "active"
		if t.LastUsedAt.Valid {
			last = t.LastUsedAt.Time.UTC().Format("2006-01-02 15:04")
		}
		if t.RevokedAt.Valid {
			state = "revoked " + t.RevokedAt.Time.UTC().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, t.CreatedAt.UTC().Format("2006-01-02 15:04"), last, state)
	}
	w.Flush()
	return exitOK
}

// audit records a command-line action; the actor is the shell user's command.
func audit(ctx context.Context, store *db.Store, action, target, detail string) {
	store.AddAudit(ctx, db.AddAuditParams{Actor: "cli", Action: action, Target: target, Result: "ok", Detail: detail})
}
