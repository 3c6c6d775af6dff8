package deployer

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"deployex/app"
	"deployex/app/release"
	"deployex/app/supervisor"
	"deployex/db"
)

// maxPollBackoff caps the wait between polls of a bucket that keeps failing.
const maxPollBackoff = 5 * time.Minute

// worker deploys one app. Only its own goroutine changes the fields above mu.
type worker struct {
	d    *Deployer
	spec app.Spec
	log  *slog.Logger
	wake chan struct{}

	tag      string            // of the last current.json read, for conditional reads
	current  *release.Current  // the last well-formed current.json
	reported string            // digest of the last malformed current.json reported
	refused  map[string]string // version → tarball tag that was refused
	lastTag  string            // tag of the tarball downloaded last
	failures int               // consecutive failed polls
	notice   string            // the last "nothing to do" reason logged

	mu     sync.Mutex
	status Status
}

func newWorker(d *Deployer, spec app.Spec) *worker {
	return &worker{d: d, spec: spec, log: d.log.With("app", spec.Name), wake: make(chan struct{}, 1),
		refused: map[string]string{}, status: Status{Source: d.src.String()}}
}

// poke makes the worker look again now instead of at the next poll.
func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) run(ctx context.Context) {
	if err := w.recover(ctx); err != nil {
		w.log.Error("cannot read the deployment state", "err", err)
	}
	for {
		w.tick(ctx)
		delay := w.spec.DeployScheduleInterval
		if w.failures > 0 {
			delay = min(delay<<min(w.failures, 16), maxPollBackoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		case <-w.wake:
		}
	}
}

// recover closes the history rows an interrupted deployex left open, makes
// sure every replica has a row (the supervisor creates them too; the upserts
// are idempotent), and undoes the swap of a deployment that stopped before
// its pre_commands ended.
func (w *worker) recover(ctx context.Context) error {
	name := w.spec.Name
	if err := w.d.store.EnsureApp(ctx, db.EnsureAppParams{Name: name, Language: string(w.spec.Language)}); err != nil {
		return err
	}
	for n := 1; n <= w.spec.Replicas; n++ {
		if err := w.d.store.EnsureInstance(ctx, db.EnsureInstanceParams{App: name, Instance: int64(n), Port: int64(w.spec.Port(n))}); err != nil {
			return err
		}
	}
	if err := w.d.store.FinishRunningDeployments(ctx, name); err != nil {
		return err
	}
	last, err := w.d.store.LastDeploymentPerInstance(ctx, name)
	if err != nil {
		return err
	}
	unfinished := map[int]string{}
	for _, d := range last {
		// A hot upgrade marks current/ only once it is done, and a failed
		// full deployment that swapped is followed by its rollback's row.
		if d.Result != "ok" && (d.Kind == string(app.FullDeployment) || d.Kind == string(app.Manual)) {
			unfinished[int(d.Instance)] = d.Version
		}
	}
	for n := 1; n <= w.spec.Replicas; n++ {
		f := folders{w.d.cfg.ServiceDir(name, n)}
		current, _ := folderVersion(f.current())
		// Held: stopped before its pre_commands ended. Otherwise current/
		// holds the version of a deployment that stopped before the
		// version proved stable.
		if v, ok := unfinished[n]; f.held() || (ok && v == current) {
			w.undoInterrupted(ctx, f, n, current)
		}
	}
	return nil
}

// undoInterrupted puts replica n back on the release it ran before a
// deployment of version that a previous deployex did not finish; the
// rollout then deploys the version again, pre_commands and the stability
// check included. A first deployment has nothing to go back to: its folder
// goes and the replica waits for the rollout.
func (w *worker) undoInterrupted(ctx context.Context, f folders, n int, version string) {
	// deployex starts the supervisor and the deployer together: wait for it.
	err := w.d.sup.Stop(ctx, w.spec.Name, n)
	for errors.Is(err, supervisor.ErrNotRunning) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		err = w.d.sup.Stop(ctx, w.spec.Name, n)
	}
	if err != nil {
		w.log.Error("cannot stop a replica to undo an interrupted deployment", "instance", n, "err", err)
		return
	}
	prev, err := f.demote()
	if err != nil {
		prev, err = "", os.RemoveAll(f.current())
	}
	target := fmt.Sprintf("%s %s replica %d", w.spec.Name, version, n)
	w.d.audit(ctx, "deployer", "undo_interrupted_deployment", target, err)
	if err != nil {
		w.log.Error("cannot undo an interrupted deployment", "instance", n, "version", version, "err", err)
		return
	}
	w.log.Warn("undid an interrupted deployment; the rollout does it again", "instance", n, "version", version, "back_to", prev)
	w.setVersion(ctx, n, prev)
	if prev == "" {
		return
	}
	if err := w.d.sup.Start(ctx, w.spec.Name, n); err != nil {
		w.log.Warn("the previous release did not start", "instance", n, "version", prev, "err", err)
	}
}

// tick decides the target version and rolls it out where it is missing.
func (w *worker) tick(ctx context.Context) {
	mode, manual, err := w.d.appMode(ctx, w.spec.Name)
	if err != nil {
		w.log.Error("cannot read the app's mode", "err", err)
		return
	}
	var target *release.Current
	kind, trigger := app.FullDeployment, "poll"
	if mode == app.ModeManual {
		target, kind, trigger = w.pinned(ctx, manual), app.Manual, "user"
	} else {
		target = w.poll(ctx)
	}
	if target == nil {
		return
	}
	w.setStatus(func(s *Status) { s.Target = target.Version })
	ghosted, err := w.d.store.IsGhosted(ctx, db.IsGhostedParams{App: w.spec.Name, Version: target.Version})
	if err != nil {
		w.log.Error("cannot read the ghost list", "err", err)
		return
	}
	if ghosted {
		w.noticeOnce(fmt.Sprintf("version %s is ghosted: not deploying it", target.Version))
		return
	}
	pending, err := w.pending(ctx, target.Version)
	if err != nil {
		w.log.Error("cannot read the replicas' versions", "err", err)
		return
	}
	if len(pending) == 0 {
		w.notice = ""
		return
	}
	w.rollout(ctx, *target, kind, trigger, pending)
}

// pinned is the manual version as current.json described it: the bucket's
// file when it names that version, else the last deployment of the version
// recorded here, so its pre_commands run and its tarball digest is checked
// again. A version never deployed here runs no pre_commands. nil when the
// history cannot be read: deploying without its pre_commands could skip a
// migration.
func (w *worker) pinned(ctx context.Context, version string) *release.Current {
	if w.current != nil && w.current.Version == version {
		c := *w.current
		return &c
	}
	cur := &release.Current{Version: version}
	row, err := w.d.store.ReleaseOfVersion(ctx, db.ReleaseOfVersionParams{App: w.spec.Name, Version: version})
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err == nil:
		err = json.Unmarshal([]byte(row.PreCommands), &cur.PreCommands)
		cur.Hash, cur.SHA256 = row.Hash, row.Sha256
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		w.log.Error("cannot read how the pinned version was deployed", "version", version, "err", err)
		return nil
	}
	return cur
}

// poll reads current.json and returns the version the bucket asks for, or
// nil when there is none or the bucket cannot be read. A malformed file is
// reported once per distinct content and changes nothing.
func (w *worker) poll(ctx context.Context) *release.Current {
	f, err := w.d.src.ReadCurrent(ctx, w.spec.Name, w.tag)
	switch {
	case errors.Is(err, release.ErrNotModified):
	case errors.Is(err, release.ErrNotFound):
		w.sourceOK()
		w.tag, w.current = "", nil
		w.noticeOnce(fmt.Sprintf("no version available yet: %s/versions/%s/%s/current.json", w.d.src, w.spec.Name, w.d.cfg.Environment))
	case err != nil:
		w.failures++
		w.setStatus(func(s *Status) { s.SourceError = err.Error() })
		if w.failures == 1 {
			w.log.Warn("cannot read current.json; the running version keeps running", "err", err)
		}
		return nil
	default:
		w.sourceOK()
		w.tag = f.Tag
		cur, perr := release.ParseCurrent(f.Body)
		if perr != nil {
			w.malformed(ctx, release.Digest(f.Body), perr)
			break
		}
		w.current = &cur
	}
	return w.current
}

func (w *worker) sourceOK() {
	if w.failures > 0 {
		w.log.Info("bucket reachable again", "after_failures", w.failures)
	}
	w.failures = 0
	w.setStatus(func(s *Status) { s.SourceError = "" })
}

func (w *worker) malformed(ctx context.Context, digest string, err error) {
	if digest == w.reported {
		return
	}
	w.reported = digest
	msg := "malformed current.json ignored: " + err.Error()
	w.log.Error(msg)
	w.setStatus(func(s *Status) { s.Problem = msg })
	w.d.audit(ctx, "deployer", "read_current", w.spec.Name, err)
}

// pending lists the replicas not yet running version, in order.
func (w *worker) pending(ctx context.Context, version string) ([]int, error) {
	rows, err := w.d.store.ListInstances(ctx, w.spec.Name)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, r := range rows {
		if int(r.Instance) <= w.spec.Replicas && r.Version != version {
			out = append(out, int(r.Instance))
		}
	}
	return out, nil
}

func (w *worker) noticeOnce(msg string) {
	if msg != w.notice {
		w.notice = msg
		w.log.Info(msg)
	}
}

// setStatus changes the dashboard status and announces it.
func (w *worker) setStatus(change func(*Status)) {
	w.mu.Lock()
	before := w.status
	change(&w.status)
	after := w.status
	w.mu.Unlock()
	if before != after {
		w.d.publish(w.spec.Name, 0, after.Activity)
	}
}

func (w *worker) activity(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	w.setStatus(func(s *Status) { s.Activity = msg })
}
