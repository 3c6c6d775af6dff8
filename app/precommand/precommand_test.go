package precommand

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"deployex/app"
	"deployex/app/internal/fixture"
)

// release unpacks a real fixture release of lang into a temp folder.
func release(t *testing.T, lang app.Language) (app.Spec, string) {
	t.Helper()
	dir := t.TempDir()
	fixture.Install(t, lang, "1.0.0", fixture.Normal, dir)
	return app.Spec{Name: fixture.AppName(lang), Language: lang}, dir
}

func TestEvalRunsInAFreshVMForEveryLanguage(t *testing.T) {
	exprs := map[app.Language]string{
		app.Elixir: `Application.load(:exfix); File.write!(System.fetch_env!("MARKER"), "ran #{Application.spec(:exfix, :vsn)}")`,
		app.Erlang: `application:load(erlfix), {ok, V} = application:get_key(erlfix, vsn), ok = file:write_file(os:getenv("MARKER"), "ran " ++ V)`,
		app.Gleam:  `ok = file:write_file(os:getenv("MARKER"), "ran"), ok.`,
	}
	for lang, expr := range exprs {
		t.Run(string(lang), func(t *testing.T) {
			t.Parallel()
			spec, dir := release(t, lang)
			marker := filepath.Join(t.TempDir(), "marker")
			var out, errb bytes.Buffer
			env := append(os.Environ(), "MARKER="+marker)
			if err := Run(context.Background(), spec, dir, []string{"eval " + expr}, env, &out, &errb, time.Minute); err != nil {
				t.Fatalf("%v\nstdout: %s\nstderr: %s", err, out.String(), errb.String())
			}
			got, err := os.ReadFile(marker)
			if err != nil || !strings.HasPrefix(string(got), "ran") {
				t.Fatalf("marker %q, %v", got, err)
			}
			if lang != app.Gleam && string(got) != "ran 1.0.0" {
				t.Fatalf("the eval must see the release's own code: %q", got)
			}
		})
	}
}

func TestFailuresCarryExitCodeAndStderr(t *testing.T) {
	spec, dir := release(t, app.Erlang)
	var out, errb bytes.Buffer
	err := Run(context.Background(), spec, dir, []string{"eval ok", "eval erlang:error(migration_boom)", "eval never_reached"},
		os.Environ(), &out, &errb, time.Minute)
	var pe *Error
	if !errors.As(err, &pe) || pe.ExitCode != 1 || !strings.Contains(pe.Stderr, "migration_boom") || !strings.Contains(pe.Command, "migration_boom") {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(errb.String(), "migration_boom") {
		t.Fatal("the failing command's stderr must reach the replica's log")
	}

	start := time.Now()
	err = Run(context.Background(), spec, dir, []string{"eval timer:sleep(infinity)"}, os.Environ(), &out, &errb, time.Second)
	if !errors.As(err, &pe) || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Fatalf("a hanging pre_command must be killed at the timeout: %v after %v", err, time.Since(start))
	}
}

func TestNoShellIsInvolved(t *testing.T) {
	spec, dir := release(t, app.Erlang)
	pwned := filepath.Join(t.TempDir(), "pwned")
	var out, errb bytes.Buffer
	cmd := `eval io:format("~s~n", ["$(touch ` + pwned + `); touch ` + pwned + `"])`
	if err := Run(context.Background(), spec, dir, []string{cmd}, os.Environ(), &out, &errb, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("shell syntax in a pre_command was executed")
	}
	if !strings.Contains(out.String(), "$(touch") {
		t.Fatalf("the text must reach the VM verbatim: %q", out.String())
	}
}

func TestArgv(t *testing.T) {
	ex := app.Spec{Name: "myapp", Language: app.Elixir}
	argv, _ := Argv(ex, "/r", "eval MyApp.Migrator.migrate")
	if strings.Join(argv, "|") != "/r/bin/myapp|eval|MyApp.Migrator.migrate" {
		t.Fatalf("elixir eval: %q", argv)
	}
	argv, _ = Argv(ex, "/r", "migrate")
	if strings.Join(argv, "|") != "/r/bin/myapp|migrate" {
		t.Fatalf("bare command: %q", argv)
	}
	if _, err := Argv(app.Spec{Name: "g", Language: app.Gleam}, "/r", "migrate"); err == nil {
		t.Fatal("gleam has no bin script")
	}
	for _, bad := range []string{"", "   ", "eval", "eval   "} {
		if _, err := Argv(ex, "/r", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
