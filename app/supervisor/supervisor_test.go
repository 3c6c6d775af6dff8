package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"deployex/app"
	"deployex/app/config"
	"deployex/app/events"
	"deployex/app/hostinfo"
	"deployex/app/internal/fixture"
	"deployex/db"
)

// childFlag makes the test binary a stand-in for deployex: a supervisor
// configured from DEPLOYEX_* variables that runs until it is killed.
const childFlag = "SUPERVISOR_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childFlag) == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

func runChild() int {
	cfg, err := config.Load(os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	store, err := db.Open(context.Background(), cfg.DBPath())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sup := New(cfg, store, events.NewBus(), slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err := sup.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// The whole life of three replicas, for each language: up and registered,
// a kill -9 noticed and restarted, a forced restart, logs, and a shutdown
// that stops them all, including one that ignores SIGTERM.
func TestLifecycle(t *testing.T) {
	for _, lang := range []app.Language{app.Erlang, app.Elixir, app.Gleam} {
		t.Run(string(lang), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, lang, 3, nil)
			h.installAll(fixture.Normal)
			h.run()
			pids := map[int]int{}
			for n := 1; n <= 3; n++ {
				in := h.waitServing(n, 0)
				pids[n] = in.OSPid
				if want := app.NodeShortName(h.name, n) + "@" + h.sup.host; in.Node != want {
					t.Errorf("replica %d node %q, want %q", n, in.Node, want)
				}
				if node, _ := fixture.Call(in.Port, "node"); node != in.Node {
					t.Errorf("replica %d answers as node %q, want %q", n, node, in.Node)
				}
				if in.Port != h.port+n-1 {
					t.Errorf("replica %d port %d, want %d", n, in.Port, h.port+n-1)
				}
				if st, _ := hostinfo.ReadProcess(in.OSPid); st.Pgrp != in.OSPid {
					t.Errorf("replica %d (pid %d) is in group %d, want its own", n, in.OSPid, st.Pgrp)
				}
			}
			h.waitFor(10*time.Second, "three nodes in epmd", func() bool {
				names := fixture.EPMDNames(t, h.epmd)
				slices.Sort(names)
				return slices.Equal(names, []string{h.name + "-1", h.name + "-2", h.name + "-3"})
			})

			// kill -9 of one beam: noticed, counted, restarted with a new pid.
			killed := time.Now()
			syscall.Kill(pids[1], syscall.SIGKILL)
			exited := h.nextEvent(1, "backoff: exited", 5*time.Second)
			if noticed := exited.At.Sub(killed); noticed > 100*time.Millisecond {
				t.Errorf("exit noticed after %s, want within 100ms", noticed)
			}
			in := h.waitServing(1, pids[1])
			if in.CrashRestarts != 1 || in.ForcedRestarts != 0 {
				t.Errorf("after kill -9: crash_restarts %d forced %d, want 1 and 0", in.CrashRestarts, in.ForcedRestarts)
			}
			pids[1] = in.OSPid

			// A forced restart counts as forced, not as a crash, and is audited.
			if err := h.sup.Restart(context.Background(), h.name, 2, "tester"); err != nil {
				t.Fatalf("Restart: %v", err)
			}
			in = h.waitServing(2, pids[2])
			if in.CrashRestarts != 0 || in.ForcedRestarts != 1 {
				t.Errorf("after Restart: crash_restarts %d forced %d, want 0 and 1", in.CrashRestarts, in.ForcedRestarts)
			}
			pids[2] = in.OSPid
			audit, err := h.store.ListAudit(context.Background(), db.ListAuditParams{ID: 1 << 62, Limit: 10})
			if err != nil || len(audit) != 1 || audit[0].Actor != "tester" || audit[0].Action != "restart" ||
				audit[0].Target != h.name+"-2" || audit[0].Result != "ok" {
				t.Errorf("audit log %+v (%v), want one ok restart of %s-2 by tester", audit, err, h.name)
			}
			row, err := h.store.GetInstance(context.Background(), db.GetInstanceParams{App: h.name, Instance: 1})
			if err != nil || row.CrashRestarts != 1 || row.OsPid != int64(pids[1]) || row.Status != "running" {
				t.Errorf("db row of replica 1: %+v (%v)", row, err)
			}

			// stdout and stderr go straight to the replica's files.
			if r, err := fixture.Call(h.port+2, "print marker-"+h.name); r != "ok" || err != nil {
				t.Fatalf("print: %q %v", r, err)
			}
			h.waitFor(5*time.Second, "the printed line in both log files", func() bool {
				return strings.Contains(h.logFile(3, "stdout"), "marker-"+h.name) &&
					strings.Contains(h.logFile(3, "stderr"), "marker-"+h.name)
			})
			if !strings.Contains(h.logFile(3, "stdout"), h.name+" 1.0.0 booted") {
				t.Errorf("stdout log lacks the boot line: %q", h.logFile(3, "stdout"))
			}

			// Shutdown with stopApps: replica 3 ignores SIGTERM, so it takes the stop timeout and SIGKILL.
			if r, _ := fixture.Call(h.port+2, "ignore_term"); r != "ok" {
				t.Fatalf("ignore_term answered %q", r)
			}
			start := time.Now()
			h.shutdown(true)
			took := time.Since(start)
			if took < h.cfg.StopTimeout || took > h.cfg.StopTimeout+3*time.Second {
				t.Errorf("shutdown took %s; the SIGTERM-ignoring replica should be killed at the %s stop timeout", took, h.cfg.StopTimeout)
			}
			for n, pid := range pids {
				if left := groupMembers(pid); len(left) > 0 {
					t.Errorf("replica %d's group %d still has %v", n, pid, left)
				}
			}
			if left := processesUnder(h.dir); len(left) > 0 {
				t.Errorf("processes left after shutdown: %v", left)
			}
			if names := fixture.EPMDNames(t, h.epmd); len(names) != 0 {
				t.Errorf("epmd still lists %v", names)
			}
			rows, _ := h.store.ListInstances(context.Background(), h.name)
			for _, row := range rows {
				if row.Status != "stopped" || row.OsPid != 0 {
					t.Errorf("after shutdown, row %+v", row)
				}
			}
		})
	}
}

// A replica that cannot even boot backs off 1x, 2x, 4x... up to the maximum,
// and the supervisor uses no CPU while it waits. Not parallel: it measures
// the process's CPU time.
func TestCrashLoopBacksOff(t *testing.T) {
	h := newHarness(t, app.Gleam, 1, map[string]string{
		"DEPLOYEX_RESTART_BACKOFF_INITIAL_MS": "100",
		"DEPLOYEX_RESTART_BACKOFF_MAX_MS":     "800",
	})
	h.install(1, "1.0.0", fixture.CrashAtBoot)
	h.run()
	want := []time.Duration{100, 200, 400, 800, 800}
	for i, w := range want {
		w *= time.Millisecond
		// The gap between the events' own times: when this test gets to read
		// them is up to the Go scheduler.
		exited, cpu := h.nextEvent(1, "backoff: exited", 10*time.Second), cpuTime(t)
		started := h.nextEvent(1, "starting", 10*time.Second)
		gap, used := started.At.Sub(exited.At), cpuTime(t)-cpu
		t.Logf("attempt %d: waited %s, supervisor CPU meanwhile %s", i+2, gap.Round(time.Millisecond), used)
		if gap < w-5*time.Millisecond || gap > w+150*time.Millisecond {
			t.Errorf("attempt %d came %s after the crash, want %s", i+2, gap, w)
		}
		if used > 20*time.Millisecond {
			t.Errorf("the supervisor used %s of CPU while waiting %s", used, gap)
		}
	}
	h.nextEvent(1, "backoff: exited", 10*time.Second)
	if in := h.instance(1); in.Status != app.StatusBackoff || in.CrashRestarts != len(want)+1 ||
		!strings.Contains(in.LastError, "exit status 1") || time.Until(in.NextRestart) <= 0 {
		t.Errorf("in the crash loop: %+v", in)
	}
}

// After a stable period the backoff starts again from the initial delay.
func TestBackoffResetsAfterStable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.Gleam, 1, map[string]string{"DEPLOYEX_APP_READY_MS": "1000"})
	h.install(1, "1.0.0", fixture.Normal)
	h.run()
	crash := func() time.Duration {
		t.Helper()
		in := h.waitServing(1, 0)
		fixture.Call(in.Port, "crash")
		exited := h.nextEvent(1, "backoff: exited", 5*time.Second)
		return h.nextEvent(1, "starting", 5*time.Second).At.Sub(exited.At)
	}
	for i, w := range []time.Duration{200, 400} {
		if gap := crash(); gap < w*time.Millisecond-5*time.Millisecond || gap > (w+150)*time.Millisecond {
			t.Errorf("crash %d: restarted after %s, want %dms", i+1, gap, w)
		}
	}
	if err := h.sup.WaitStable(context.Background(), h.name, 1); err != nil {
		t.Fatalf("WaitStable: %v", err)
	}
	if !h.instance(1).Stable {
		t.Error("WaitStable returned but the snapshot is not stable")
	}
	if gap := crash(); gap > 350*time.Millisecond {
		t.Errorf("crash after a stable period: restarted after %s, want the initial 200ms", gap)
	}
}

// deployex is killed with -9: its replicas live on, and the next deployex
// adopts exactly them (same pids, no second copy) and still supervises them.
func TestAdoptionAfterKill9(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.Erlang, 3, nil)
	h.installAll(fixture.Normal)

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childFlag+"=1", "ERL_EPMD_PORT="+strconv.Itoa(h.epmd))
	for k, v := range h.env {
		child.Env = append(child.Env, k+"="+v)
	}
	var childLog strings.Builder
	child.Stdout, child.Stderr = &childLog, &childLog
	child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })

	// Wait for the child's replicas through what it records and what they answer.
	pids := map[int]int64{}
	deadline := time.Now().Add(30 * time.Second)
	for n := 1; n <= 3; n++ {
		for {
			row, err := h.store.GetInstance(context.Background(), db.GetInstanceParams{App: h.name, Instance: int64(n)})
			if err == nil && row.Status == "running" && row.OsPid > 0 {
				if pid, err := fixture.Call(h.port+n-1, "os_pid"); err == nil && pid == strconv.FormatInt(row.OsPid, 10) {
					pids[n] = row.OsPid
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the child supervisor did not bring replica %d up; its log:\n%s", n, childLog.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	for n, pid := range pids {
		if err := syscall.Kill(int(pid), 0); err != nil {
			t.Fatalf("replica %d (pid %d) died with the supervisor: %v", n, pid, err)
		}
	}

	h.run()
	for n := 1; n <= 3; n++ {
		in := h.waitServing(n, 0)
		if int64(in.OSPid) != pids[n] {
			t.Errorf("replica %d runs as pid %d after the restart, want the adopted %d", n, in.OSPid, pids[n])
		}
	}
	// Give a second copy the time it would need to show up, then count.
	time.Sleep(time.Second)
	if names := fixture.EPMDNames(t, h.epmd); len(names) != 3 {
		t.Errorf("epmd lists %v, want exactly 3 nodes", names)
	}
	if beams := processesUnder(h.dir); len(beams) != 3 {
		t.Errorf("%d processes run from the release folders (%v), want 3", len(beams), beams)
	}

	// A crash of an adopted replica (not our child) is still noticed and restarted.
	syscall.Kill(int(pids[2]), syscall.SIGKILL)
	in := h.waitServing(2, int(pids[2]))
	if in.CrashRestarts != 1 {
		t.Errorf("adopted replica's crash counted %d times, want 1", in.CrashRestarts)
	}
}

// A recorded pid that now names another program is never touched: the
// replica is started afresh and the stranger lives on.
func TestRecordedPidReusedIsNotTouched(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.Gleam, 1, nil)
	h.install(1, "1.0.0", fixture.Normal)
	stranger := exec.Command("sleep", "60")
	stranger.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stranger.Process.Kill(); stranger.Wait() })
	st, err := hostinfo.ReadProcess(stranger.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h.store.EnsureApp(ctx, db.EnsureAppParams{Name: h.name, Language: string(h.lang)})
	h.store.EnsureInstance(ctx, db.EnsureInstanceParams{App: h.name, Instance: 1, Port: int64(h.port)})
	// Same pid, different start time: what a reused pid looks like.
	if err := h.store.SaveInstanceProcess(ctx, db.SaveInstanceProcessParams{Status: "running",
		OsPid: int64(stranger.Process.Pid), PidStartTicks: int64(st.Start) - 1, App: h.name, Instance: 1}); err != nil {
		t.Fatal(err)
	}
	h.run()
	if in := h.waitServing(1, stranger.Process.Pid); in.CrashRestarts != 0 {
		t.Errorf("a replica that was not ours counted as a crash: %+v", in)
	}
	h.shutdown(true)
	if err := syscall.Kill(stranger.Process.Pid, 0); err != nil {
		t.Errorf("the stranger reusing the recorded pid was touched: %v", err)
	}
}

// Missing or non-executable bin/<app>: a clear error, retried with backoff,
// no busy loop; the release showing up later is picked up by the retries.
// Not parallel: it measures the process's CPU time.
func TestMissingBinary(t *testing.T) {
	h := newHarness(t, app.Erlang, 1, map[string]string{
		"DEPLOYEX_RESTART_BACKOFF_INITIAL_MS": "100",
		"DEPLOYEX_RESTART_BACKOFF_MAX_MS":     "400",
	})
	if err := os.MkdirAll(h.current(1)+"/bin", 0o755); err != nil {
		t.Fatal(err)
	}
	cpu, start := cpuTime(t), time.Now()
	h.run()
	h.nextEvent(1, "backoff", 5*time.Second)
	in := h.instance(1)
	if in.Status != app.StatusBackoff || !strings.Contains(in.LastError, "bin/erlfix is missing") || in.NextRestart.IsZero() {
		t.Errorf("missing bin/erlfix: %+v", in)
	}
	attempts := 1
	for time.Since(start) < 1500*time.Millisecond {
		h.nextEvent(1, "starting", 2*time.Second)
		attempts++
	}
	used := cpuTime(t) - cpu
	t.Logf("%d attempts in %s, CPU %s", attempts, time.Since(start).Round(time.Millisecond), used)
	// 0, 100, 300, 700, 1100, 1500 ms: six attempts, not thousands.
	if attempts < 4 || attempts > 8 {
		t.Errorf("%d start attempts in 1.5s with a 100ms..400ms backoff", attempts)
	}
	if used > 150*time.Millisecond {
		t.Errorf("the supervisor used %s of CPU retrying a missing binary", used)
	}

	if err := os.WriteFile(h.current(1)+"/bin/erlfix", []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.waitFor(2*time.Second, "the not-executable error", func() bool {
		return strings.Contains(h.instance(1).LastError, "bin/erlfix is not executable")
	})
	os.RemoveAll(h.current(1))
	h.install(1, "1.0.0", fixture.Normal)
	h.waitServing(1, 0)
	if in := h.instance(1); in.CrashRestarts != 0 || in.LastError != "" {
		t.Errorf("failed starts must not count as crashes, and the error clears: %+v", in)
	}
}

// A port already taken by another program is reported as such.
func TestPortInUse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.Gleam, 1, nil)
	h.install(1, "1.0.0", fixture.Normal)
	squatter, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(h.port))
	if err != nil {
		t.Fatal(err)
	}
	h.run()
	h.nextEvent(1, "backoff", 5*time.Second)
	if in := h.instance(1); !strings.Contains(in.LastError, fmt.Sprintf("port %d (PORT) is already in use", h.port)) {
		t.Errorf("last_error %q does not name the port in use", in.LastError)
	}
	squatter.Close()
	h.waitServing(1, 0)
}

// What the deployer relies on: nothing deployed means idle, Stop holds a
// replica down, Start brings it back, WaitStable tells stable from crashed,
// and a prober gates stability.
func TestDeployerControls(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.Gleam, 1, map[string]string{"DEPLOYEX_APP_READY_MS": "1500"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.run()
	h.nextEvent(1, "idle", 5*time.Second)
	if err := h.sup.WaitStable(ctx, h.name, 1); !isNotStable(err) {
		t.Errorf("WaitStable with nothing deployed: %v", err)
	}

	h.install(1, "1.0.0", fixture.Normal)
	if err := h.sup.Start(ctx, h.name, 1); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := h.sup.WaitStable(ctx, h.name, 1); err != nil {
		t.Fatalf("WaitStable: %v", err)
	}
	pid := h.instance(1).OSPid

	if err := h.sup.Stop(ctx, h.name, 1); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if in := h.instance(1); in.Status != app.StatusStopped || in.OSPid != 0 || len(groupMembers(pid)) > 0 {
		t.Fatalf("after Stop: %+v, group %v", in, groupMembers(pid))
	}
	time.Sleep(2 * h.cfg.RestartBackoffInitial)
	if in := h.instance(1); in.Status != app.StatusStopped {
		t.Fatalf("a stopped replica came back by itself: %+v", in)
	}
	if err := h.sup.WaitStable(ctx, h.name, 1); !errors.Is(err, ErrStopped) {
		t.Errorf("WaitStable on a stopped replica: %v", err)
	}
	if err := h.sup.Restart(ctx, h.name, 1, "tester"); !errors.Is(err, ErrStopped) {
		t.Errorf("Restart of a stopped replica: %v", err)
	}

	// A version that never becomes stable: WaitStable reports each crash.
	// It lives 100ms after boot, well inside the ready period even when
	// parallel tests slow its boot down.
	h.install(1, "1.0.1", fixture.NeverStable(100*time.Millisecond))
	if err := h.sup.Start(ctx, h.name, 1); err != nil {
		t.Fatalf("Start: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := h.sup.WaitStable(ctx, h.name, 1); !isNotStable(err) || !strings.Contains(err.Error(), "exit status 1") {
			t.Errorf("WaitStable on a never-stable version, round %d: %v", i, err)
		}
	}

	// With a prober, up for the ready period is not enough: the probe must pass.
	var connected atomic.Bool
	probed := make(chan string, 100)
	h.sup.SetProber(func(ctx context.Context, node string) error {
		probed <- node
		if !connected.Load() {
			return errors.New("not connected")
		}
		return nil
	})
	h.sup.Stop(ctx, h.name, 1)
	h.install(1, "1.0.2", fixture.Normal)
	h.sup.Start(ctx, h.name, 1)
	node := <-probed
	if node != h.sup.Node(h.name, 1) {
		t.Errorf("probed %q, want %q", node, h.sup.Node(h.name, 1))
	}
	time.Sleep(300 * time.Millisecond)
	if h.instance(1).Stable {
		t.Error("stable although the probe fails")
	}
	connected.Store(true)
	if err := h.sup.WaitStable(ctx, h.name, 1); err != nil {
		t.Errorf("WaitStable once the probe passes: %v", err)
	}
}
