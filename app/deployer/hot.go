package deployer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"deployex/app"
	"deployex/app/otp"
	"deployex/app/release"
)

// hotProbeTimeout bounds the check that a replica's node answers before a
// hot upgrade is tried on it.
const hotProbeTimeout = 2 * time.Second

// hotRejectedError: release_handler (or a pre_command) refused the release
// before installing anything; the replica runs its old code, untouched.
type hotRejectedError struct{ err error }

func (e *hotRejectedError) Error() string { return "hot upgrade refused: " + e.err.Error() }
func (e *hotRejectedError) Unwrap() error { return e.err }

// hotReady decides between a hot upgrade of replica n to version to (true,
// with the replica as it runs now) and a full deployment (false, the reason
// logged). The release in new/ must allow it (hotUpgradable), and the
// replica must run the version it upgrades from and answer over distribution.
func (w *worker) hotReady(ctx context.Context, f folders, to string, n int) (app.Instance, bool) {
	if w.d.upgrader == nil {
		return app.Instance{}, false // hot upgrades are off: no OTP node was given
	}
	full := func(reason string) (app.Instance, bool) {
		w.log.Info("full deployment, not a hot upgrade", "instance", n, "version", to, "reason", reason)
		return app.Instance{}, false
	}
	from, err := folderVersion(f.current())
	if errors.Is(err, fs.ErrNotExist) {
		from = "" // nothing deployed yet
	} else if err != nil {
		return full("cannot read the running version: " + err.Error())
	}
	if err := hotUpgradable(w.spec, f.new(), from, to); err != nil {
		return full(err.Error())
	}
	// An interrupted attempt leaves the release half installed, and
	// release_handler would refuse to unpack it again.
	if _, err := os.Stat(filepath.Join(f.current(), "releases", to)); err == nil {
		return full("an earlier attempt left releases/" + to + " in current/")
	}
	in, ok := w.instance(n)
	if !ok || in.Status != app.StatusRunning || in.OSPid == 0 {
		return full("the replica is not running")
	}
	pctx, cancel := context.WithTimeout(ctx, hotProbeTimeout)
	defer cancel()
	if err := w.d.upgrader.Probe(pctx, in.Node); err != nil {
		return full("its node does not answer over distribution: " + err.Error())
	}
	return in, true
}

// hotUpgrade installs cur on replica in's running node: pre_commands from
// new/, then release_handler's steps, each shown as the worker's activity.
// On success the replica runs the new code in the same OS process and a cold
// restart boots it too. A refusal before install leaves the old code running
// and returns a *hotRejectedError, which ghosts the version; a failure from
// install on falls back to a full deployment of the same release.
func (w *worker) hotUpgrade(ctx context.Context, cur release.Current, kind app.DeploymentKind, trigger string, in app.Instance, f folders, tarball, step string) (attempt, error) {
	name, n := w.spec.Name, in.Instance
	from, _ := folderVersion(f.current())
	id, err := w.record(ctx, cur, app.HotUpgrade, trigger, n)
	if err != nil {
		f.clearNew()
		return attempt{}, err
	}
	log := w.log.With("instance", n, "node", in.Node, "from", from, "to", cur.Version)
	log.Info("hot upgrade")
	start := time.Now()
	if len(cur.PreCommands) > 0 {
		w.activity("%s: hot upgrade: running pre_commands from the new release", step)
		if err := w.d.sup.RunPreCommandsFrom(ctx, name, n, f.new(), cur.PreCommands); err != nil {
			return w.hotRejected(ctx, id, f, err)
		}
	}
	w.activity("%s: hot upgrade: saving the running release", step)
	root, err := filepath.Abs(f.current())
	if err == nil {
		err = f.snapshot()
	}
	if err != nil {
		// A local failure, not the release's: nothing changed, and the next
		// poll tries again.
		w.finish(id, "failed", "save current/: "+err.Error())
		f.clearNew()
		return attempt{}, err
	}
	rel := otp.Release{Root: root, Name: name, Version: cur.Version, Tarball: tarball}
	stepStart := time.Now()
	err = w.d.upgrader.HotUpgrade(ctx, in.Node, rel, func(s otp.Step, err error) {
		took := time.Since(stepStart).Round(time.Millisecond)
		stepStart = time.Now()
		if err != nil {
			log.Warn("hot upgrade step failed", "step", s, "took", took, "err", err)
			w.activity("%s: hot upgrade: %s failed", step, s)
			return
		}
		log.Info("hot upgrade step done", "step", s, "took", took)
		w.activity("%s: hot upgrade: %s done", step, s)
	})
	var uerr *otp.UpgradeError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		// Whatever state the node is in, the next deployex sees releases/<to>
		// in current/ and deploys fully.
		w.finish(id, "failed", "interrupted: deployex is stopping")
		return attempt{}, ctx.Err()
	case errors.As(err, &uerr) && uerr.Installed():
		log.Error("hot upgrade failed after install: full deployment of the same release", "err", err)
		w.finish(id, "failed", err.Error()+"; fell back to a full deployment")
		return w.fallBack(ctx, cur, kind, trigger, n, f, step)
	case !w.sameProcess(in):
		// The node went away during the upgrade: not the release's fault.
		log.Error("replica restarted during the hot upgrade: full deployment of the same release", "err", err)
		w.finish(id, "failed", err.Error()+"; the replica restarted meanwhile; fell back to a full deployment")
		return w.fallBack(ctx, cur, kind, trigger, n, f, step)
	default:
		return w.hotRejected(ctx, id, f, err)
	}

	if err := f.settleHot(cur.Version); err != nil {
		// The node runs the new release already; only the bookkeeping lags.
		log.Error("cannot record the hot upgrade in the replica's folders", "err", err)
	}
	w.setVersion(ctx, n, cur.Version)
	log.Info("hot upgrade done", "took", time.Since(start).Round(time.Millisecond))
	a := attempt{n: n, id: id}
	// Same process, so normally stable at once; a crash of the new code
	// restarts the replica (from the new release), which must settle.
	w.activity("%s: hot upgrade: waiting until it is stable", step)
	if err := w.waitStable(ctx, n); err != nil {
		return a, err
	}
	w.finish(id, "ok", "")
	return a, nil
}

// hotRejected closes a hot upgrade refused before install: the running
// release is as it was, so only new/ and the snapshot go.
func (w *worker) hotRejected(ctx context.Context, id int64, f folders, err error) (attempt, error) {
	f.clearNew()
	if ctx.Err() != nil {
		w.finish(id, "failed", "interrupted: deployex is stopping")
		return attempt{}, ctx.Err()
	}
	w.finish(id, "failed", err.Error())
	return attempt{}, &hotRejectedError{err}
}

// fallBack deploys cur fully on replica n after a hot upgrade that may have
// changed the node and current/: stop it, put the snapshot back as current/,
// then the seed's steps. pre_commands ran before the upgrade already.
func (w *worker) fallBack(ctx context.Context, cur release.Current, kind app.DeploymentKind, trigger string, n int, f folders, step string) (attempt, error) {
	id, err := w.record(ctx, cur, kind, trigger, n)
	if err != nil {
		return attempt{}, err
	}
	w.activity("%s: full deployment after a failed hot upgrade: stopping", step)
	if err := w.d.sup.Stop(ctx, w.spec.Name, n); err != nil {
		w.finish(id, "failed", "stop: "+err.Error())
		return attempt{}, err
	}
	if err := f.restore(); err != nil {
		w.finish(id, "failed", "restore current/: "+err.Error())
		return attempt{n: n, id: id}, fmt.Errorf("restore current/: %w", err)
	}
	return w.swapAndStart(ctx, attempt{n: n, id: id}, f, cur.Version, nil, step)
}

// instance is the supervisor's view of replica n.
func (w *worker) instance(n int) (app.Instance, bool) {
	for _, in := range w.d.sup.Instances(w.spec.Name) {
		if in.Instance == n {
			return in, true
		}
	}
	return app.Instance{}, false
}

// sameProcess reports whether the replica still runs as the process in was.
func (w *worker) sameProcess(in app.Instance) bool {
	now, ok := w.instance(in.Instance)
	return ok && now.Status == app.StatusRunning && now.OSPid == in.OSPid && now.StartedAt.Equal(in.StartedAt)
}
