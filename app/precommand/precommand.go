// Package precommand runs a release's pre_commands (migrations, seeds) before
// a replica starts. Each command is an argv list, never a shell string: a
// pre_command "<command> <rest>" runs as [bin/<app>, command, rest], and
// "eval <expr>" always runs in a fresh VM with the new release's code, never
// on a running node.
package precommand

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"deployex/app"
)

// Error reports a failed pre_command with its exit code and the end of its stderr.
type Error struct {
	Command  string
	ExitCode int
	Stderr   string
	Err      error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("pre_command %q failed", e.Command)
	if e.ExitCode >= 0 {
		msg += fmt.Sprintf(" with exit code %d", e.ExitCode)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Run executes cmds in order in the release folder dir, appending their output
// to stdout and stderr. It stops at the first failure.
func Run(ctx context.Context, spec app.Spec, dir string, cmds []string, env []string, stdout, stderr io.Writer, timeout time.Duration) error {
	for _, c := range cmds {
		argv, err := Argv(spec, dir, c)
		if err != nil {
			return &Error{Command: c, ExitCode: -1, Err: err}
		}
		if err := run(ctx, argv, dir, env, stdout, stderr, timeout); err != nil {
			err.Command = c
			return err
		}
	}
	return nil
}

// Argv turns one pre_command into the argv that runs it for spec's language.
func Argv(spec app.Spec, dir, command string) ([]string, error) {
	verb, rest, _ := strings.Cut(strings.TrimSpace(command), " ")
	rest = strings.TrimSpace(rest)
	if verb == "" {
		return nil, errors.New("empty pre_command")
	}
	if verb == "eval" && rest == "" {
		return nil, errors.New("eval needs an expression")
	}
	switch {
	case spec.Language == app.Elixir:
		// Elixir's own `bin/app eval` already boots a fresh, non-started VM.
	case verb == "eval" && spec.Language == app.Erlang:
		return relxEval(dir, rest)
	case verb == "eval" && spec.Language == app.Gleam:
		return gleamEval(dir, rest)
	case spec.Language == app.Gleam:
		return nil, fmt.Errorf("gleam shipments have no bin/%s script: only eval pre_commands run", spec.Name)
	}
	argv := []string{filepath.Join(dir, "bin", spec.Name), verb}
	if rest != "" {
		argv = append(argv, rest)
	}
	return argv, nil
}

// relxEval boots the release's own erts (or the host's erl when the release
// ships none) on start_clean with the release's code path and sys.config,
// because relx's `bin/app eval` would run the expression on the live node.
func relxEval(dir, expr string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "releases", "start_erl.data"))
	if err != nil {
		return nil, fmt.Errorf("reading the release version: %w", err)
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return nil, fmt.Errorf("releases/start_erl.data: want \"ERTS_VSN REL_VSN\", got %q", data)
	}
	ertsVsn, relVsn := f[0], f[1]
	erl := filepath.Join(dir, "erts-"+ertsVsn, "bin", "erl")
	if _, err := os.Stat(erl); err != nil {
		erl = "erl"
	}
	argv := []string{erl, "-noshell", "-boot", filepath.Join(dir, "releases", relVsn, "start_clean")}
	if cfg := filepath.Join(dir, "releases", relVsn, "sys.config"); fileExists(cfg) {
		argv = append(argv, "-config", cfg)
	}
	paths, err := ebinDirs(filepath.Join(dir, "lib"))
	if err != nil {
		return nil, err
	}
	argv = append(argv, "-pa")
	argv = append(argv, paths...)
	return append(argv, "-eval", wrap(expr)), nil
}

// gleamEval uses the host's erl: a shipment carries no erts.
func gleamEval(dir, expr string) ([]string, error) {
	paths, err := ebinDirs(dir)
	if err != nil {
		return nil, err
	}
	argv := append([]string{"erl", "-noshell", "-pa"}, paths...)
	return append(argv, "-eval", wrap(expr)), nil
}

// wrap makes the VM exit 0 when the expression returns and 1, with the
// reason on stderr, when it raises; a trailing dot in the expression is fine.
func wrap(expr string) string {
	expr = strings.TrimSuffix(strings.TrimSpace(expr), ".")
	return "try begin " + expr + " end of _ -> halt(0) catch C:R:S -> " +
		"io:format(standard_error, \"~p: ~p~n~p~n\", [C, R, S]), halt(1) end."
}

func ebinDirs(root string) ([]string, error) {
	dirs, err := filepath.Glob(filepath.Join(root, "*", "ebin"))
	if err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no */ebin folder under %s", root)
	}
	sort.Strings(dirs)
	return dirs, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// stderrTail is how much of a failing command's stderr the error carries.
const stderrTail = 2048

func run(ctx context.Context, argv []string, dir string, env []string, stdout, stderr io.Writer, timeout time.Duration) *Error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tail := &tailBuffer{max: stderrTail}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = stdout, io.MultiWriter(stderr, tail)
	// Its own process group, so a timeout kills everything it started (the
	// BEAM's erl_child_setup and port programs included).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return &Error{ExitCode: -1, Err: err}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return &Error{ExitCode: -1, Err: fmt.Errorf("killed: %w", ctx.Err()), Stderr: tail.String()}
	}
	if err == nil {
		return nil
	}
	code := -1
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
		err = nil
	}
	return &Error{ExitCode: code, Err: err, Stderr: tail.String()}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(bytes.TrimSpace(t.b)) }
