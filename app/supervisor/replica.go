package supervisor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"deployex/app"
	"deployex/app/events"
	"deployex/db"
)

// How long one stability probe may take, and how soon a failed one is retried.
const (
	probeTimeout = 5 * time.Second
	probeRetry   = time.Second
)

type cmdKind int

const (
	cmdStop cmdKind = iota
	cmdStart
	cmdRestart
	cmdPreCommands
)

type command struct {
	kind        cmdKind
	preCommands []string   // for cmdPreCommands
	reply       chan error // buffered: the loop never waits for a caller that gave up
}

type probeResult struct {
	attempt uint64
	health  bool // a health probe of a stable replica, not a stability check
	err     error
}

// state is what others may read about a replica; the loop goroutine alone
// changes it, through update.
type state struct {
	status      app.Status
	proc        *proc
	startedAt   time.Time
	nextRestart time.Time
	lastError   string
	stable      bool
	crashes     int
	forced      int
	held        bool // stopped on request: nothing starts it again but Start

	// Every start (or adoption) is an attempt; waiters watch one attempt
	// until it becomes stable or ends.
	attempt       uint64
	stableAttempt uint64
	failedAttempt uint64
	failure       error
}

// replica supervises one instance of an app from its own goroutine (run).
type replica struct {
	s      *Supervisor
	spec   app.Spec
	n      int
	node   string
	log    *slog.Logger
	cmds   chan command
	probed chan probeResult

	// Owned by the loop goroutine.
	backoff     time.Duration // delay before the next automatic start
	probing     bool
	nextProbe   time.Time
	nextHealth  time.Time // when a stable replica is probed next
	healthFails int       // health probes failed in a row

	mu      sync.Mutex
	st      state
	changed chan struct{} // closed and replaced at every update, to wake waiters
}

func newReplica(s *Supervisor, spec app.Spec, n int) *replica {
	return &replica{
		s:       s,
		spec:    spec,
		n:       n,
		node:    app.NodeShortName(spec.Name, n) + "@" + s.host,
		log:     s.log.With("app", spec.Name, "instance", n),
		cmds:    make(chan command),
		probed:  make(chan probeResult),
		backoff: s.cfg.RestartBackoffInitial,
		st:      state{status: app.StatusIdle},
		changed: make(chan struct{}),
	}
}

// run adopts or starts the replica, then keeps it alive until ctx ends. It
// leaves the process running when it returns: Shutdown decides its fate.
func (r *replica) run(ctx context.Context, row db.Instance) {
	r.boot(ctx, row)
	for {
		r.mu.Lock()
		st := r.st
		r.mu.Unlock()
		var exited <-chan struct{}
		var wake <-chan time.Time
		switch {
		case st.proc != nil:
			exited = st.proc.exited
			switch {
			case r.probing:
			case !st.stable:
				ready := st.startedAt.Add(r.s.cfg.AppReady)
				if r.nextProbe.After(ready) {
					ready = r.nextProbe
				}
				wake = time.After(time.Until(ready))
			case r.s.cfg.HealthFailures > 0 && r.s.prober.Load() != nil:
				wake = time.After(time.Until(r.nextHealth))
			}
		case !st.held && !st.nextRestart.IsZero():
			wake = time.After(time.Until(st.nextRestart))
		}
		// With neither channel set the goroutine sleeps until a command or
		// the end: a replica in backoff or stopped costs no CPU.
		select {
		case <-ctx.Done():
			return
		case <-exited:
			r.exited(ctx)
		case <-wake:
			switch {
			case st.proc == nil:
				r.start(ctx)
			case !st.stable:
				r.checkStable(ctx)
			default:
				r.checkHealth(ctx)
			}
		case res := <-r.probed:
			r.probeDone(ctx, res)
		case c := <-r.cmds:
			c.reply <- r.handle(ctx, c)
		}
	}
}

// boot adopts the process an earlier deployex recorded if it is still that
// process, and otherwise starts a new one.
func (r *replica) boot(ctx context.Context, row db.Instance) {
	if row.OsPid > 0 {
		pid, ticks := int(row.OsPid), uint64(row.PidStartTicks)
		if p, err := adopt(pid, ticks); err == nil {
			started := time.Now()
			if row.StartedAt.Valid {
				started = row.StartedAt.Time
			}
			r.update(ctx, true, fmt.Sprintf("running (adopted pid %d)", pid), func(st *state) {
				st.attempt++
				st.proc, st.status, st.startedAt, st.lastError = p, app.StatusRunning, started, ""
			})
			r.log.Info("adopted running replica", "pid", pid, "up", time.Since(started).Round(time.Second))
			return
		}
		r.log.Info("recorded replica process is gone, starting a new one", "pid", pid)
		// What the old leader left in its group (port programs, say) is ours to clear.
		stale := &proc{pid: pid, ticks: ticks, exited: alreadyExited}
		if err := stale.killLeftovers(); err != nil {
			r.log.Error("cannot clear what the old replica left behind", "err", err)
		}
	}
	r.start(ctx)
}

var alreadyExited = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// start makes one attempt to start the replica; a failure schedules the next
// attempt after the backoff, except when nothing is deployed yet.
func (r *replica) start(ctx context.Context) error {
	r.update(ctx, false, "starting", func(st *state) {
		st.attempt++
		st.status, st.held, st.nextRestart = app.StatusStarting, false, time.Time{}
	})
	argv, p, err := r.spawn()
	if errors.Is(err, errNotDeployed) {
		r.update(ctx, true, "idle: "+err.Error(), func(st *state) {
			st.status, st.lastError = app.StatusIdle, err.Error()
			st.failedAttempt, st.failure = st.attempt, err
		})
		r.log.Info("replica not started: nothing deployed", "err", err)
		return err
	}
	if err != nil {
		delay := r.nextDelay()
		r.update(ctx, true, fmt.Sprintf("backoff: %v; retry in %s", err, delay), func(st *state) {
			st.status, st.lastError, st.nextRestart = app.StatusBackoff, err.Error(), time.Now().Add(delay)
			st.failedAttempt, st.failure = st.attempt, err
		})
		r.log.Error("cannot start replica", "err", err, "retry_in", delay)
		return err
	}
	r.probing, r.nextProbe = false, time.Time{}
	r.update(ctx, true, fmt.Sprintf("running (pid %d)", p.pid), func(st *state) {
		st.proc, st.status, st.startedAt, st.lastError, st.stable = p, app.StatusRunning, time.Now(), "", false
	})
	r.log.Info("replica started", "pid", p.pid, "argv", argv)
	return nil
}

// spawn checks what can be checked before starting and starts the process,
// writing straight to the replica's log files.
func (r *replica) spawn() ([]string, *proc, error) {
	dir := filepath.Join(r.s.cfg.ServiceDir(r.spec.Name, r.n), "current")
	argv, err := startCommand(r.spec, r.n, dir, r.s.cfg.Cookie, r.s.tlsFlags())
	if err != nil {
		return nil, nil, err
	}
	if err := r.portsFree(); err != nil {
		return nil, nil, err
	}
	stdout, stderr, err := r.openLogs()
	if err != nil {
		return nil, nil, err
	}
	defer stdout.Close()
	defer stderr.Close()
	p, err := spawn(argv, dir, childEnv(os.Environ(), r.spec, r.n, r.s.cfg.Cookie, r.s.tlsFlags()), stdout, stderr)
	return argv, p, err
}

// openLogs opens the replica's stdout and stderr files for appending; the
// child writes to them directly, so they outlive deployex.
func (r *replica) openLogs() (stdout, stderr *os.File, err error) {
	if err := os.MkdirAll(r.s.cfg.LogDir(r.spec.Name), 0o750); err != nil {
		return nil, nil, err
	}
	stdout, err = os.OpenFile(r.s.cfg.LogFile(r.spec.Name, r.n, "stdout"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, err
	}
	stderr, err = os.OpenFile(r.s.cfg.LogFile(r.spec.Name, r.n, "stderr"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		stdout.Close()
		return nil, nil, err
	}
	return stdout, stderr, nil
}

// portsFree tries to bind the replica's ports, so a port taken by someone
// else is reported as such instead of as an obscure crash at boot.
func (r *replica) portsFree() error {
	for _, ps := range r.spec.Ports {
		port := ps.Base + r.n - 1
		l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("port %d (%s) is already in use by another program", port, ps.Key)
		}
		if err != nil {
			return fmt.Errorf("port %d (%s): %w", port, ps.Key, err)
		}
		l.Close()
	}
	return nil
}

func (r *replica) nextDelay() time.Duration {
	d := r.backoff
	r.backoff = min(2*d, r.s.cfg.RestartBackoffMax)
	return d
}

// exited handles a process that ended without being asked to.
func (r *replica) exited(ctx context.Context) {
	r.mu.Lock()
	p := r.st.proc
	r.mu.Unlock()
	r.crashed(ctx, fmt.Errorf("exited: %w", p.reap()))
}

// crashed counts the end of the replica's process, already reaped, as a
// crash and schedules the restart after the backoff.
func (r *replica) crashed(ctx context.Context, reason error) {
	r.mu.Lock()
	p, wasUp := r.st.proc, time.Since(r.st.startedAt)
	r.mu.Unlock()
	// SIGKILL cannot be ignored, so the next start need not wait for the
	// rest of the group (erl_child_setup, port programs) to be gone.
	p.signalGroup(syscall.SIGKILL)
	p.release()
	crashes, err := r.s.store.IncrementCrashRestarts(context.WithoutCancel(ctx),
		db.IncrementCrashRestartsParams{App: r.spec.Name, Instance: int64(r.n)})
	if err != nil {
		r.log.Error("cannot count the crash", "err", err)
	}
	delay := r.nextDelay()
	r.update(ctx, true, fmt.Sprintf("backoff: %v after %s; restart in %s", reason, wasUp.Round(time.Millisecond), delay), func(st *state) {
		st.proc, st.status, st.startedAt, st.stable = nil, app.StatusBackoff, time.Time{}, false
		st.lastError, st.nextRestart = reason.Error(), time.Now().Add(delay)
		st.failedAttempt, st.failure = st.attempt, reason
		if err == nil {
			st.crashes = int(crashes)
		}
	})
	r.log.Warn("replica ended", "pid", p.pid, "reason", reason, "up", wasUp.Round(time.Millisecond), "restart_in", delay)
}

// checkStable runs once the process has been up for the ready period: it is
// stable now, or once the prober (when set) says its node answers.
func (r *replica) checkStable(ctx context.Context) {
	probe := r.s.prober.Load()
	if probe == nil {
		r.markStable(ctx)
		return
	}
	r.probe(ctx, *probe, probeTimeout, false)
}

// checkHealth probes a stable replica. A hung VM (SIGSTOPped, or its
// schedulers stuck) keeps its socket open and the net tick takes a minute
// to notice; this probe notices within a few intervals.
func (r *replica) checkHealth(ctx context.Context) {
	// Probes start at a steady pace: one that times out takes the whole
	// interval, so the next starts right after it.
	r.nextHealth = time.Now().Add(r.s.cfg.HealthInterval)
	if probe := r.s.prober.Load(); probe != nil {
		r.probe(ctx, *probe, r.s.cfg.HealthInterval, true)
	}
}

// probe runs the prober off the loop, which gets the result on r.probed.
func (r *replica) probe(ctx context.Context, probe Prober, timeout time.Duration, health bool) {
	r.mu.Lock()
	attempt := r.st.attempt
	r.mu.Unlock()
	r.probing = true
	go func() {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := probe(pctx, r.node)
		cancel()
		select {
		case r.probed <- probeResult{attempt, health, err}:
		case <-ctx.Done():
		}
	}()
}

func (r *replica) probeDone(ctx context.Context, res probeResult) {
	r.mu.Lock()
	current := r.st.proc != nil && r.st.attempt == res.attempt
	r.mu.Unlock()
	if !current {
		return // an answer about a process that has since ended
	}
	r.probing = false
	if res.health {
		r.healthDone(ctx, res.err)
		return
	}
	if res.err != nil {
		r.nextProbe = time.Now().Add(probeRetry)
		r.log.Debug("replica up for the ready period but its probe failed", "err", res.err)
		return
	}
	r.markStable(ctx)
}

// healthDone counts failed health probes in a row and kills the replica
// once there are HealthFailures of them.
func (r *replica) healthDone(ctx context.Context, err error) {
	if err == nil {
		r.healthFails = 0
		return
	}
	r.healthFails++
	r.log.Warn("replica failed its health probe", "err", err, "failures", r.healthFails, "limit", r.s.cfg.HealthFailures)
	if r.healthFails >= r.s.cfg.HealthFailures {
		r.unresponsive(ctx, err)
	}
}

// unresponsive kills the process group of a replica that stopped answering
// and restarts it as after a crash (crash_restarts counts it, last_error
// says "unresponsive: …"): deployex did not choose to restart it, the
// replica failed. SIGKILL at once: a stopped VM ignores SIGTERM until
// continued, and a hung one would not act on it in time anyway.
func (r *replica) unresponsive(ctx context.Context, probeErr error) {
	if ctx.Err() != nil {
		return // deployex is stopping: its own node may be what failed the probe
	}
	r.mu.Lock()
	p := r.st.proc
	r.mu.Unlock()
	r.log.Error("replica unresponsive, killing it", "pid", p.pid, "failures", r.healthFails, "err", probeErr)
	p.signalGroup(syscall.SIGKILL)
	if err := p.waitGroupGone(); err != nil {
		r.log.Error("unresponsive replica survived SIGKILL", "err", err)
		return
	}
	p.reap()
	r.crashed(ctx, fmt.Errorf("unresponsive: %w", probeErr))
}

func (r *replica) markStable(ctx context.Context) {
	r.backoff = r.s.cfg.RestartBackoffInitial
	r.healthFails, r.nextHealth = 0, time.Now().Add(r.s.cfg.HealthInterval)
	r.update(ctx, false, "stable", func(st *state) {
		st.stable, st.stableAttempt = true, st.attempt
	})
	r.log.Info("replica stable")
}

// handle carries out a command from Stop, Start, Restart or RunPreCommands.
func (r *replica) handle(ctx context.Context, c command) error {
	r.mu.Lock()
	st := r.st
	r.mu.Unlock()
	switch c.kind {
	case cmdStop:
		if st.proc != nil {
			r.stopProcess(ctx, ErrStopped)
		}
		r.update(ctx, false, "stopped (held until started)", func(st *state) {
			st.held, st.status, st.nextRestart = true, app.StatusStopped, time.Time{}
		})
		return nil
	case cmdStart:
		if st.proc != nil {
			r.update(ctx, false, "running", func(st *state) { st.held = false })
			return nil
		}
		// A deliberate start, typically of a new version: no crash history applies.
		r.backoff = r.s.cfg.RestartBackoffInitial
		return r.start(ctx)
	case cmdRestart:
		if st.held {
			return ErrStopped
		}
		if st.proc != nil {
			r.stopProcess(ctx, errors.New("restarted on request"))
		}
		forced, err := r.s.store.IncrementForcedRestarts(context.WithoutCancel(ctx),
			db.IncrementForcedRestartsParams{App: r.spec.Name, Instance: int64(r.n)})
		if err != nil {
			r.log.Error("cannot count the forced restart", "err", err)
		} else {
			r.update(ctx, false, "restarting", func(st *state) { st.forced = int(forced) })
		}
		return r.start(ctx)
	case cmdPreCommands:
		return r.preCommands(ctx, st, c.preCommands)
	}
	return fmt.Errorf("unknown command %d", c.kind)
}

// stopProcess ends the replica's process group (SIGTERM, then SIGKILL after
// the stop timeout) and records why the attempt ended.
func (r *replica) stopProcess(ctx context.Context, why error) {
	r.mu.Lock()
	p := r.st.proc
	r.mu.Unlock()
	r.update(ctx, false, "stopping", func(st *state) { st.status = app.StatusStopping })
	start := time.Now()
	killed, err := p.stop(r.s.cfg.StopTimeout)
	if p.cmd != nil {
		p.reap()
	}
	p.release()
	r.update(ctx, true, "stopped", func(st *state) {
		st.proc, st.status, st.startedAt, st.stable = nil, app.StatusStopped, time.Time{}, false
		st.failedAttempt, st.failure = st.attempt, why
		if err != nil {
			st.lastError = err.Error()
		}
	})
	r.log.Info("replica stopped", "pid", p.pid, "killed", killed, "took", time.Since(start).Round(time.Millisecond))
	if err != nil {
		r.log.Error("replica's process group survived SIGKILL", "err", err)
	}
}

// shutdown is called once the loop has ended: stop the process, or let go of it.
func (r *replica) shutdown(ctx context.Context, stopApps bool) {
	r.mu.Lock()
	p := r.st.proc
	r.mu.Unlock()
	switch {
	case p == nil:
	case stopApps:
		r.stopProcess(ctx, ErrStopped)
	default:
		p.release()
		r.log.Info("leaving replica running", "pid", p.pid)
	}
}

// update changes the state, wakes waiters, records the change (the process
// fields too when process is set) and publishes it. The db is written before
// the event goes out, so a subscriber that reads back sees the new state; the
// event carries the time of the change, not of the write.
func (r *replica) update(ctx context.Context, process bool, msg string, change func(*state)) {
	at := time.Now()
	r.mu.Lock()
	change(&r.st)
	st := r.st
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()

	// Recording must outlive a cancelled Run: the row is what the next deployex adopts from.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	key := db.GetInstanceParams{App: r.spec.Name, Instance: int64(r.n)}
	var err error
	if process {
		err = r.s.store.Tx(ctx, func(q *db.Queries) error {
			// The version column belongs to the deployer: carry it over as it is.
			row, err := q.GetInstance(ctx, key)
			if err != nil {
				return err
			}
			var pid, ticks int64
			if st.proc != nil {
				pid, ticks = int64(st.proc.pid), int64(st.proc.ticks)
			}
			return q.SaveInstanceProcess(ctx, db.SaveInstanceProcessParams{
				Status: string(st.status), Version: row.Version, OsPid: pid, PidStartTicks: ticks,
				StartedAt: sql.NullTime{Time: st.startedAt, Valid: !st.startedAt.IsZero()},
				LastError: st.lastError, App: key.App, Instance: key.Instance,
			})
		})
	} else {
		err = r.s.store.SetInstanceStatus(ctx, db.SetInstanceStatusParams{
			Status: string(st.status), LastError: st.lastError, App: key.App, Instance: key.Instance})
	}
	if err != nil {
		r.log.Error("cannot record replica state", "err", err)
	}
	r.s.bus.Publish(events.Event{Kind: events.InstanceChanged, App: r.spec.Name, Instance: r.n, Message: msg, At: at})
}

// waitStable waits for the current attempt (or, between attempts, the next
// one) to become stable, and says why if it ends first.
func (r *replica) waitStable(ctx context.Context) error {
	r.mu.Lock()
	var watch uint64
	for {
		st := &r.st
		if watch == 0 {
			switch {
			case st.proc != nil || st.status == app.StatusStarting:
				watch = st.attempt
			case st.held:
				r.mu.Unlock()
				return ErrStopped
			case st.status == app.StatusIdle:
				err := &NotStableError{Node: r.node, Reason: st.lastError}
				r.mu.Unlock()
				return err
			default: // in backoff: the next attempt is the one
				watch = st.attempt + 1
			}
		}
		var err error
		switch {
		case st.stableAttempt == watch:
			r.mu.Unlock()
			return nil
		case st.failedAttempt == watch:
			err = &NotStableError{Node: r.node, Reason: st.failure.Error()}
		case st.attempt > watch:
			err = &NotStableError{Node: r.node, Reason: "replaced by a newer start"}
		case st.held && st.proc == nil:
			err = ErrStopped
		}
		if err != nil {
			r.mu.Unlock()
			return err
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		r.mu.Lock()
	}
}

func (r *replica) snapshot(version string) app.Instance {
	r.mu.Lock()
	st := r.st
	r.mu.Unlock()
	in := app.Instance{
		App: r.spec.Name, Instance: r.n, Node: r.node, Status: st.status, Version: version,
		Port: r.spec.Port(r.n), CrashRestarts: st.crashes, ForcedRestarts: st.forced,
		StartedAt: st.startedAt, NextRestart: st.nextRestart, LastError: st.lastError, Stable: st.stable,
	}
	if st.proc != nil {
		in.OSPid = st.proc.pid
	}
	return in
}
