package deployer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"deployex/app"
	"deployex/app/release"
	"deployex/app/supervisor"
	"deployex/db"
)

// attempt is one replica moved to the new version, with its history row.
type attempt struct {
	n  int
	id int64
}

// rollout moves the pending replicas to cur one at a time, each only once
// the one before is stable. A replica that does not become stable ghosts the
// version and sends every replica moved so far back to its previous folder.
func (w *worker) rollout(ctx context.Context, cur release.Current, kind app.DeploymentKind, trigger string, pending []int) {
	defer w.activity("")
	tarball, err := w.fetch(ctx, cur.Version)
	if err != nil {
		return
	}
	defer os.Remove(tarball)
	w.log.Info("deploying", "version", cur.Version, "trigger", trigger, "replicas", pending)
	var moved []attempt
	for i, n := range pending {
		step := fmt.Sprintf("deploying %s: replica %d (%d of %d)", cur.Version, n, i+1, len(pending))
		a, err := w.deployReplica(ctx, cur, kind, trigger, n, tarball, step)
		if a.id != 0 {
			moved = append(moved, a)
		}
		var rejected *hotRejectedError
		switch {
		case err == nil:
			continue
		case ctx.Err() != nil:
			w.finish(a.id, "failed", "interrupted: deployex is stopping")
		case errors.As(err, &rejected):
			// This replica runs its old code untouched; the version is bad
			// all the same, and the replicas moved before go back.
			w.rollback(ctx, cur.Version, moved, err)
		case a.id == 0 || errors.Is(err, release.ErrRefused):
			// Nothing was swapped: the running version keeps running.
		default:
			w.rollback(ctx, cur.Version, moved, err)
		}
		return
	}
	w.log.Info("deployed", "version", cur.Version)
}

// fetch downloads the tarball of version, unless it was refused before and
// has not changed since.
func (w *worker) fetch(ctx context.Context, version string) (string, error) {
	if tag, ok := w.refused[version]; ok {
		info, err := w.d.src.Stat(ctx, w.spec.Name, version)
		if err != nil || info.Tag == tag {
			return "", errRefusedBefore
		}
		delete(w.refused, version)
	}
	w.activity("downloading %s", version)
	dir := filepath.Join(w.d.cfg.DataDir, "downloads")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	art, err := w.d.src.Download(ctx, w.spec.Name, version, filepath.Join(dir, w.spec.Name+"-"+version+".tar.gz"))
	if err != nil {
		w.setStatus(func(s *Status) { s.SourceError = "download of " + version + ": " + err.Error() })
		w.log.Error("cannot download the release", "version", version, "err", err)
		return "", err
	}
	w.lastTag = art.Tag
	return art.Path, nil
}

var errRefusedBefore = errors.New("tarball refused before and unchanged")

// deployReplica moves replica n to cur: it unpacks the release to new/ and
// then hot-upgrades the running node when the release and the replica allow
// it (see hot.go), or else runs the seed's full deployment. The returned
// attempt has an id once the replica's folders or code changed.
func (w *worker) deployReplica(ctx context.Context, cur release.Current, kind app.DeploymentKind, trigger string, n int, tarball, step string) (attempt, error) {
	name := w.spec.Name
	w.d.publish(name, 0, step)
	f := folders{w.d.cfg.ServiceDir(name, n)}
	w.activity("%s: unpacking", step)
	if err := w.unpackNew(ctx, f, cur, tarball); err != nil {
		if id, rerr := w.record(ctx, cur, kind, trigger, n); rerr == nil {
			w.finish(id, "failed", err.Error())
		}
		return attempt{}, err
	}
	if in, ok := w.hotReady(ctx, f, cur.Version, n); ok {
		return w.hotUpgrade(ctx, cur, kind, trigger, in, f, tarball, step)
	}
	id, err := w.record(ctx, cur, kind, trigger, n)
	if err != nil {
		f.clearNew()
		return attempt{}, err
	}
	w.activity("%s: stopping the old version", step)
	if err := w.d.sup.Stop(ctx, name, n); err != nil {
		w.finish(id, "failed", "stop: "+err.Error())
		return attempt{}, err
	}
	return w.swapAndStart(ctx, attempt{n: n, id: id}, f, cur.Version, cur.PreCommands, step)
}

// record opens the history row of one replica's deployment.
func (w *worker) record(ctx context.Context, cur release.Current, kind app.DeploymentKind, trigger string, n int) (int64, error) {
	pre, err := json.Marshal(slices.Concat([]string{}, cur.PreCommands)) // [] rather than null
	if err != nil {
		return 0, err
	}
	id, err := w.d.store.StartDeployment(ctx, db.StartDeploymentParams{App: w.spec.Name, Version: cur.Version, Hash: cur.Hash,
		Instance: int64(n), Kind: string(kind), Trigger: trigger, PreCommands: string(pre), Sha256: cur.SHA256})
	if err != nil {
		w.log.Error("cannot record the deployment", "err", err)
	}
	return id, err
}

// unpackNew unpacks the tarball into a fresh new/ and marks it with the version.
func (w *worker) unpackNew(ctx context.Context, f folders, cur release.Current, tarball string) error {
	err := f.clearNew()
	if err == nil {
		err = release.Unpack(ctx, tarball, f.new(), cur.SHA256, release.LimitsFrom(w.d.cfg))
	}
	if err == nil {
		err = f.markNew(cur.Version)
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, release.ErrRefused) {
		w.refused[cur.Version] = w.lastTag
		w.setStatus(func(s *Status) { s.Problem = fmt.Sprintf("release %s refused: %v", cur.Version, err) })
		w.d.audit(ctx, "deployer", "refuse_release", w.spec.Name+" "+cur.Version, err)
	}
	w.log.Error("cannot unpack the release", "version", cur.Version, "err", err)
	f.clearNew()
	return err
}

// swapAndStart runs the rest of the seed's steps on the stopped replica:
// delete previous/, move current/ to previous/ and new/ to current/, run
// pre_commands, start, and wait until it is stable. The new folder is held
// from before the swap until its pre_commands ran (see undoInterrupted).
func (w *worker) swapAndStart(ctx context.Context, a attempt, f folders, version string, preCommands []string, step string) (attempt, error) {
	name := w.spec.Name
	err := f.hold()
	if err == nil {
		err = f.promote()
	}
	if err != nil {
		w.finish(a.id, "failed", "swap folders: "+err.Error())
		// The old release may be in previous/ now; the rollback puts it back.
		return a, err
	}
	w.setVersion(ctx, a.n, version)
	if len(preCommands) > 0 {
		w.activity("%s: running pre_commands", step)
		if err := w.d.sup.RunPreCommands(ctx, name, a.n, preCommands); err != nil {
			return a, err
		}
	}
	if err := f.unhold(); err != nil {
		w.finish(a.id, "failed", "release the folder: "+err.Error())
		return a, err
	}
	w.activity("%s: starting", step)
	if err := w.d.sup.Start(ctx, name, a.n); err != nil {
		w.log.Warn("new version did not start", "instance", a.n, "err", err)
	}
	w.activity("%s: waiting until it is stable", step)
	if err := w.waitStable(ctx, a.n); err != nil {
		return a, err
	}
	w.finish(a.id, "ok", "")
	return a, nil
}

// waitStable waits for replica n to become stable within the rollback
// window, forgiving crashes up to the configured limit.
func (w *worker) waitStable(ctx context.Context, n int) error {
	window := w.spec.DeployRollbackTimeout
	wctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	for crashes := 0; ; {
		err := w.d.sup.WaitStable(wctx, w.spec.Name, n)
		var ns *supervisor.NotStableError
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("not stable within %s", window)
		case errors.As(err, &ns):
			crashes++
			if crashes >= w.d.cfg.DeployMaxCrashes {
				return fmt.Errorf("crashed %d times before becoming stable (last: %s)", crashes, ns.Reason)
			}
		default:
			return err
		}
	}
}

// rollback ghosts version and puts every replica moved to it back on the
// release in its previous/ folder, newest move first. No download is needed.
func (w *worker) rollback(ctx context.Context, version string, moved []attempt, cause error) {
	name := w.spec.Name
	reason := cause.Error()
	w.log.Error("version failed: ghosting it and rolling back the replicas moved to it", "version", version, "moved", len(moved), "reason", reason)
	if err := w.d.store.AddGhost(ctx, db.AddGhostParams{App: name, Version: version, Reason: reason}); err != nil {
		w.log.Error("cannot ghost the version", "err", err)
	}
	w.d.audit(ctx, "deployer", "ghost", name+" "+version, nil)
	for _, a := range slices.Backward(moved) {
		w.finish(a.id, "rolled_back", reason)
		w.activity("rolling back replica %d from %s", a.n, version)
		f := folders{w.d.cfg.ServiceDir(name, a.n)}
		prev, _ := folderVersion(f.previous())
		id, err := w.d.store.StartDeployment(ctx, db.StartDeploymentParams{App: name, Version: prev, Instance: int64(a.n),
			Kind: string(app.Rollback), Trigger: "rollback", PreCommands: "[]"})
		if err != nil {
			w.log.Error("cannot record the rollback", "err", err)
		}
		if err := w.d.sup.Stop(ctx, name, a.n); err != nil {
			w.finish(id, "failed", "stop: "+err.Error())
			continue
		}
		prev, err = f.demote()
		if err != nil {
			// A first deployment has nothing to go back to: the replica stays
			// stopped, and the ghosted release goes so no restart brings it back.
			os.RemoveAll(f.current())
			w.setVersion(ctx, a.n, "")
			w.finish(id, "failed", err.Error())
			continue
		}
		w.setVersion(ctx, a.n, prev)
		if err := w.d.sup.Start(ctx, name, a.n); err != nil {
			w.finish(id, "failed", "start: "+err.Error())
			continue
		}
		w.finish(id, "ok", "")
	}
	what := "rolled back and ghosted"
	if len(moved) == 0 {
		what = "ghosted"
	}
	w.setStatus(func(s *Status) { s.Problem = fmt.Sprintf("version %s %s: %s", version, what, reason) })
}

func (w *worker) setVersion(ctx context.Context, n int, version string) {
	if err := w.d.store.SetInstanceVersion(context.WithoutCancel(ctx), db.SetInstanceVersionParams{
		Version: version, App: w.spec.Name, Instance: int64(n)}); err != nil {
		w.log.Error("cannot record the replica's version", "instance", n, "err", err)
	}
	w.d.publish(w.spec.Name, n, "version "+version)
	w.d.publish(w.spec.Name, 0, "version "+version) // the app's "running" line
}

// finish closes a history row; it outlives a cancelled context so the record
// is right even when deployex stops mid-deployment.
func (w *worker) finish(id int64, result, msg string) {
	if id == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.d.store.FinishDeployment(ctx, db.FinishDeploymentParams{Result: result, Error: msg, ID: id}); err != nil {
		w.log.Error("cannot record the deployment result", "err", err)
	}
	w.d.publish(w.spec.Name, 0, "deployment "+result)
}
