package supervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"deployex/app"
	"deployex/app/precommand"
)

// preCommandTimeout bounds one pre_command (a migration, say).
const preCommandTimeout = 10 * time.Minute

// errNotHeld: pre_commands run only while Stop holds the replica, so they
// never race the release they prepare.
var errNotHeld = errors.New("pre_commands run only while the replica is stopped")

// RunPreCommands runs cmds in replica n's current/ folder, with the
// replica's environment, while Stop holds it. They run in the replica's own
// goroutine, so a Start or Restart waits for them; their output goes to the
// replica's log files and the replica shows the pre_commands status.
func (s *Supervisor) RunPreCommands(ctx context.Context, appName string, n int, cmds []string) error {
	return s.sendCommand(ctx, appName, n, command{kind: cmdPreCommands, preCommands: cmds})
}

// RunPreCommandsFrom runs cmds from the release folder dir (a hot upgrade's
// unpacked new release) with replica n's environment and log files while
// the replica keeps running. Each command boots a VM of its own (see package
// precommand) and so never touches the running node. It runs on the
// caller's goroutine: supervision of the replica goes on meanwhile.
func (s *Supervisor) RunPreCommandsFrom(ctx context.Context, appName string, n int, dir string, cmds []string) error {
	r, err := s.replica(appName, n)
	if err != nil {
		return err
	}
	err = r.runPreCommands(ctx, dir, cmds)
	if err != nil {
		r.log.Error("pre_commands failed", "dir", dir, "err", err)
	}
	return err
}

func (r *replica) preCommands(ctx context.Context, st state, cmds []string) error {
	if !st.held || st.proc != nil {
		return errNotHeld
	}
	r.update(ctx, false, "running pre_commands", func(st *state) { st.status, st.lastError = app.StatusPreCommands, "" })
	err := r.runPreCommands(ctx, filepath.Join(r.s.cfg.ServiceDir(r.spec.Name, r.n), "current"), cmds)
	r.update(ctx, false, "pre_commands done", func(st *state) {
		st.status = app.StatusStopped
		if err != nil {
			st.lastError = err.Error()
		}
	})
	if err != nil {
		r.log.Error("pre_commands failed", "err", err)
	}
	return err
}

func (r *replica) runPreCommands(ctx context.Context, dir string, cmds []string) error {
	stdout, stderr, err := r.openLogs()
	if err != nil {
		return err
	}
	defer stdout.Close()
	defer stderr.Close()
	return precommand.Run(ctx, r.spec, dir, cmds, childEnv(os.Environ(), r.spec, r.n, r.s.cfg.Cookie, r.s.tlsFlags()), stdout, stderr, preCommandTimeout)
}
