// Package supervisor runs the replicas of every monitored app as OS
// processes and keeps them alive: one goroutine per replica starts it as its
// language expects, notices its exit at once through a pidfd, restarts it
// after an exponential backoff, stops it with SIGTERM then SIGKILL for its
// whole process group, and re-adopts the replicas an earlier deployex left
// running. Replicas run in their own sessions and write straight to their
// log files, so deployex can restart (even be killed) under them.
//
// With a prober (deployex's OTP node), a replica is stable only once its
// node answers, and a stable replica is probed every health interval: after
// DEPLOYEX_HEALTH_CHECK_FAILURES failures in a row (a hung or SIGSTOPped VM,
// which keeps its socket open for the minute the net tick takes) its group
// is SIGKILLed and it restarts as after a crash.
//
// The supervisor owns processes and restart counters; the instances table is
// its record, except the version column, which belongs to the deployer.
//
// Shutdown of deployex and systemd. By default (Shutdown with stopApps
// false) the replicas outlive deployex and the next one adopts them. A new
// session does not take a process out of the unit's cgroup, so the unit must
// say KillMode=process, or systemd's default (control-group) kills every
// replica whenever deployex stops or restarts. With `serve
// --stop-apps-on-exit` deployex stops the replicas itself on SIGTERM: use
// KillMode=mixed (SIGTERM to deployex only, SIGKILL to whatever is left at
// the end) and a TimeoutStopSec longer than DEPLOYEX_STOP_TIMEOUT_MS.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"deployex/app"
	"deployex/app/config"
	"deployex/app/events"
	"deployex/app/otp"
	"deployex/db"
)

var (
	// ErrUnknownReplica: no such app, or no such replica number.
	ErrUnknownReplica = errors.New("supervisor: no such replica")
	// ErrNotRunning: Run has not started yet or has ended.
	ErrNotRunning = errors.New("supervisor: not running")
	// ErrStopped: the replica was stopped with Stop and stays so until Start.
	ErrStopped = errors.New("supervisor: replica is stopped")
)

// NotStableError says the replica's process ended, or could not start,
// before it became stable.
type NotStableError struct {
	Node   string
	Reason string
}

func (e *NotStableError) Error() string {
	return fmt.Sprintf("%s ended before it became stable: %s", e.Node, e.Reason)
}

// Prober checks that a replica's node answers (over OTP distribution); when
// one is set, a replica counts as stable only once it succeeds.
type Prober func(ctx context.Context, node string) error

// Supervisor keeps the replicas of every configured app running.
type Supervisor struct {
	cfg      *config.Config
	store    *db.Store
	bus      *events.Bus
	log      *slog.Logger
	host     string
	prober   atomic.Pointer[Prober]
	replicas []*replica            // every replica, in configuration order
	apps     map[string][]*replica // by app; replica n at index n-1

	mu     sync.Mutex
	loops  context.Context // the replicas' goroutines run while it lives
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New prepares a supervisor for every app in cfg; Run starts the work.
func New(cfg *config.Config, store *db.Store, bus *events.Bus, log *slog.Logger) *Supervisor {
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	host, _, _ = strings.Cut(host, ".")
	s := &Supervisor{cfg: cfg, store: store, bus: bus, log: log.With("component", "supervisor"),
		host: host, apps: map[string][]*replica{}}
	for _, spec := range cfg.Apps {
		for n := 1; n <= spec.Replicas; n++ {
			r := newReplica(s, spec, n)
			s.replicas = append(s.replicas, r)
			s.apps[spec.Name] = append(s.apps[spec.Name], r)
		}
	}
	return s
}

// Node is the full distribution name of replica n of appName.
func (s *Supervisor) Node(appName string, n int) string {
	return app.NodeShortName(appName, n) + "@" + s.host
}

// SetProber makes stability also require probe to succeed, and has stable
// replicas probed for health (nil removes it). Set it before Run, or at any
// time: it applies from the next check.
func (s *Supervisor) SetProber(probe Prober) {
	if probe == nil {
		s.prober.Store(nil)
		return
	}
	s.prober.Store(&probe)
}

// tlsFlags are the erl flags that put a replica on TLS distribution, nil
// when DEPLOYEX_OTP_TLS_CERT_PATH is not set. Whoever starts deployex's own
// node writes the file they name before Run.
func (s *Supervisor) tlsFlags() []string {
	if f := s.cfg.SSLDistOptFile(); f != "" {
		return otp.SSLDistArgs(f)
	}
	return nil
}

// Run records every app and replica, adopts the replicas still running from
// an earlier deployex or starts them, and supervises them until ctx ends or
// Shutdown is called. Replicas keep running after Run returns.
func (s *Supervisor) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.loops != nil {
		s.mu.Unlock()
		return errors.New("supervisor: Run called twice")
	}
	s.loops, s.cancel = context.WithCancel(ctx)
	loops := s.loops
	s.mu.Unlock()

	rows := make(map[*replica]db.Instance, len(s.replicas))
	for _, spec := range s.cfg.Apps {
		if err := s.prepare(ctx, spec, rows); err != nil {
			s.cancel()
			return err
		}
	}
	// Shutdown cancels under mu, so no goroutine is added once it waits.
	s.mu.Lock()
	if loops.Err() == nil {
		for _, r := range s.replicas {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				r.run(loops, rows[r])
			}()
		}
	}
	s.mu.Unlock()
	<-loops.Done()
	s.wg.Wait()
	return nil
}

// prepare makes sure the app and its replicas have rows, loads the counters,
// and stops replicas an earlier configuration had beyond today's count.
func (s *Supervisor) prepare(ctx context.Context, spec app.Spec, rows map[*replica]db.Instance) error {
	if err := s.store.EnsureApp(ctx, db.EnsureAppParams{Name: spec.Name, Language: string(spec.Language)}); err != nil {
		return fmt.Errorf("supervisor: record app %s: %w", spec.Name, err)
	}
	existing, err := s.store.ListInstances(ctx, spec.Name)
	if err != nil {
		return fmt.Errorf("supervisor: read replicas of %s: %w", spec.Name, err)
	}
	for _, row := range existing {
		if int(row.Instance) > spec.Replicas {
			s.retire(row)
		}
	}
	if err := s.store.DeleteInstancesAbove(ctx, db.DeleteInstancesAboveParams{App: spec.Name, Instance: int64(spec.Replicas)}); err != nil {
		return fmt.Errorf("supervisor: forget extra replicas of %s: %w", spec.Name, err)
	}
	for _, r := range s.apps[spec.Name] {
		key := db.GetInstanceParams{App: spec.Name, Instance: int64(r.n)}
		if err := s.store.EnsureInstance(ctx, db.EnsureInstanceParams{App: key.App, Instance: key.Instance, Port: int64(spec.Port(r.n))}); err != nil {
			return fmt.Errorf("supervisor: record %s: %w", r.node, err)
		}
		row, err := s.store.GetInstance(ctx, key)
		if err != nil {
			return fmt.Errorf("supervisor: read %s: %w", r.node, err)
		}
		rows[r] = row
		r.mu.Lock()
		r.st.crashes, r.st.forced = int(row.CrashRestarts), int(row.ForcedRestarts)
		r.mu.Unlock()
	}
	return nil
}

// retire stops a replica that is no longer configured, if it still runs.
func (s *Supervisor) retire(row db.Instance) {
	p, err := adopt(int(row.OsPid), uint64(row.PidStartTicks))
	if err != nil {
		return
	}
	defer p.release()
	log := s.log.With("app", row.App, "instance", row.Instance, "pid", p.pid)
	if _, err := p.stop(s.cfg.StopTimeout); err != nil {
		log.Error("cannot stop replica beyond the configured count", "err", err)
		return
	}
	log.Info("stopped replica beyond the configured count")
}

// Shutdown ends supervision. With stopApps false the replicas keep running
// and the next deployex adopts them; with stopApps true each is stopped
// (SIGTERM, SIGKILL after the stop timeout) and nothing of it is left.
func (s *Supervisor) Shutdown(ctx context.Context, stopApps bool) error {
	s.mu.Lock()
	if s.loops == nil {
		s.loops, s.cancel = context.WithCancel(context.Background())
	}
	s.cancel()
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	var wg sync.WaitGroup
	for _, r := range s.replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.shutdown(ctx, stopApps)
		}()
	}
	wg.Wait()
	return nil
}

// Instances is a snapshot of every replica of appName, in order; nil for an
// unknown app.
func (s *Supervisor) Instances(appName string) []app.Instance {
	reps := s.apps[appName]
	if reps == nil {
		return nil
	}
	versions := map[int64]string{}
	rows, err := s.store.ListInstances(context.Background(), appName)
	if err != nil {
		s.log.Error("cannot read replica versions", "app", appName, "err", err)
	}
	for _, row := range rows {
		versions[row.Instance] = row.Version
	}
	out := make([]app.Instance, 0, len(reps))
	for _, r := range reps {
		out = append(out, r.snapshot(versions[int64(r.n)]))
	}
	return out
}

// Restart stops replica n of appName and starts it again at once (no
// backoff), counted as a forced restart and written to the audit log as
// actor's. A replica held by Stop is refused with ErrStopped.
func (s *Supervisor) Restart(ctx context.Context, appName string, n int, actor string) error {
	err := s.send(ctx, appName, n, cmdRestart)
	result, detail := "ok", ""
	if err != nil {
		result, detail = "failed", err.Error()
	}
	if aerr := s.store.AddAudit(context.WithoutCancel(ctx), db.AddAuditParams{
		Actor: actor, Action: "restart", Target: app.NodeShortName(appName, n), Result: result, Detail: detail,
	}); aerr != nil {
		s.log.Error("cannot write the audit log", "err", aerr)
	}
	return err
}

// RestartApp restarts every replica of appName, one after the other, each
// once the previous one has started again.
func (s *Supervisor) RestartApp(ctx context.Context, appName, actor string) error {
	reps := s.apps[appName]
	if reps == nil {
		return fmt.Errorf("%w: app %q", ErrUnknownReplica, appName)
	}
	var errs []error
	for _, r := range reps {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if err := s.Restart(ctx, appName, r.n, actor); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.node, err))
		}
	}
	return errors.Join(errs...)
}

// Stop stops replica n and holds it stopped: it is not restarted until Start.
func (s *Supervisor) Stop(ctx context.Context, appName string, n int) error {
	return s.send(ctx, appName, n, cmdStop)
}

// Start starts replica n now (from its current/ folder) and ends a hold by
// Stop. It returns once the process runs, or with the reason it could not
// start, in which case the replica retries after the backoff.
func (s *Supervisor) Start(ctx context.Context, appName string, n int) error {
	return s.send(ctx, appName, n, cmdStart)
}

// WaitStable waits until replica n's current process, or if none runs the
// next one started, has been up for the ready period (and answered the
// prober). If that process exits or cannot start first, it returns a
// *NotStableError; ErrStopped if the replica is held stopped.
func (s *Supervisor) WaitStable(ctx context.Context, appName string, n int) error {
	r, err := s.replica(appName, n)
	if err != nil {
		return err
	}
	return r.waitStable(ctx)
}

func (s *Supervisor) replica(appName string, n int) (*replica, error) {
	reps := s.apps[appName]
	if n < 1 || n > len(reps) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownReplica, app.NodeShortName(appName, n))
	}
	return reps[n-1], nil
}

// send hands a command to the replica's goroutine and waits for its answer.
func (s *Supervisor) send(ctx context.Context, appName string, n int, kind cmdKind) error {
	return s.sendCommand(ctx, appName, n, command{kind: kind})
}

// sendCommand delivers c to the replica's loop, so its state has one writer.
func (s *Supervisor) sendCommand(ctx context.Context, appName string, n int, c command) error {
	r, err := s.replica(appName, n)
	if err != nil {
		return err
	}
	s.mu.Lock()
	loops := s.loops
	s.mu.Unlock()
	if loops == nil {
		return ErrNotRunning
	}
	c.reply = make(chan error, 1)
	select {
	case r.cmds <- c:
	case <-loops.Done():
		return ErrNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
