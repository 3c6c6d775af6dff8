package supervisor

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// harness is one supervised app made of real fixture releases, with its own
// data dir, log dir, database and epmd, so tests run in parallel.
type harness struct {
	t     *testing.T
	lang  app.Language
	name  string
	dir   string
	env   map[string]string // the DEPLOYEX_* variables the config is loaded from
	epmd  int
	port  int // of replica 1
	cfg   *config.Config
	store *db.Store
	bus   *events.Bus
	sub   *events.Sub[events.Event]
	sup   *Supervisor
	ran   chan error
}

// newHarness configures an app of the fixture for lang with the given
// replicas and test-sized timings; settings overrides them.
func newHarness(t *testing.T, lang app.Language, replicas int, settings map[string]string) *harness {
	t.Helper()
	h := &harness{t: t, lang: lang, name: fixture.AppName(lang), dir: t.TempDir(), epmd: fixture.PrivateEPMD(t)}
	h.port = fixture.FreePorts(t, replicas)
	h.env = map[string]string{
		"DEPLOYEX_DATA_DIR":                   h.dir + "/data",
		"DEPLOYEX_LOG_DIR":                    h.dir + "/log",
		"DEPLOYEX_MONITORED_APP_NAME":         h.name,
		"DEPLOYEX_MONITORED_APP_LANG":         string(lang),
		"DEPLOYEX_MONITORED_REPLICAS":         strconv.Itoa(replicas),
		"DEPLOYEX_MONITORED_APP_PORT":         strconv.Itoa(h.port),
		"DEPLOYEX_ERLANG_COOKIE":              "supervisor-test",
		"DEPLOYEX_APP_READY_MS":               "2000",
		"DEPLOYEX_RESTART_BACKOFF_INITIAL_MS": "200",
		"DEPLOYEX_RESTART_BACKOFF_MAX_MS":     "1600",
		"DEPLOYEX_STOP_TIMEOUT_MS":            "1500",
	}
	for k, v := range settings {
		h.env[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := h.env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Apps[0].Env = append(cfg.Apps[0].Env, app.EnvVar{Key: "ERL_EPMD_PORT", Value: strconv.Itoa(h.epmd)})
	h.cfg = cfg
	h.store, err = db.Open(context.Background(), cfg.DBPath())
	if err != nil {
		t.Fatal(err)
	}
	h.bus = events.NewBus()
	h.sub = h.bus.Subscribe(10000, nil)
	t.Cleanup(h.cleanup)
	return h
}

// current is replica n's current/ release folder.
func (h *harness) current(n int) string { return filepath.Join(h.cfg.ServiceDir(h.name, n), "current") }

// install puts a fixture release of version into replica n's current/ folder.
func (h *harness) install(n int, version string, v fixture.Variant) {
	h.t.Helper()
	os.RemoveAll(h.current(n))
	fixture.Install(h.t, h.lang, version, v, h.current(n))
}

func (h *harness) installAll(v fixture.Variant) {
	h.t.Helper()
	for n := 1; n <= h.cfg.Apps[0].Replicas; n++ {
		h.install(n, "1.0.0", v)
	}
}

// run starts a supervisor over the harness's database.
func (h *harness) run() {
	h.t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{h.t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.sup = New(h.cfg, h.store, h.bus, log)
	h.ran = make(chan error, 1)
	go func() { h.ran <- h.sup.Run(context.Background()) }()
}

// shutdown ends the supervisor and waits for Run to return.
func (h *harness) shutdown(stopApps bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.sup.Shutdown(ctx, stopApps); err != nil {
		h.t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-h.ran:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-ctx.Done():
		h.t.Error("Run did not return after Shutdown")
	}
	h.sup = nil
}

// cleanup stops what the test left running, whatever happened.
func (h *harness) cleanup() {
	if h.sup != nil {
		h.shutdown(true)
	}
	for _, pid := range processesUnder(h.dir) {
		syscall.Kill(-pid, syscall.SIGKILL)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	h.sub.Close()
	h.store.Close()
}

func (h *harness) instance(n int) app.Instance { return h.sup.Instances(h.name)[n-1] }

// waitFor polls cond until it holds or timeout passes.
func (h *harness) waitFor(timeout time.Duration, what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %s waiting for %s; instances: %+v", timeout, what, h.sup.Instances(h.name))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitServing waits until replica n runs a process other than notPid and
// its fixture answers on its port; it returns the replica's snapshot.
func (h *harness) waitServing(n, notPid int) app.Instance {
	h.t.Helper()
	var in app.Instance
	h.waitFor(30*time.Second, "replica "+strconv.Itoa(n)+" serving", func() bool {
		in = h.instance(n)
		if in.Status != app.StatusRunning || in.OSPid == 0 || in.OSPid == notPid {
			return false
		}
		pid, err := fixture.Call(in.Port, "os_pid")
		return err == nil && pid == strconv.Itoa(in.OSPid)
	})
	return in
}

// nextEvent returns the next event of replica n whose message starts with prefix.
func (h *harness) nextEvent(n int, prefix string, timeout time.Duration) events.Event {
	h.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-h.sub.C:
			if e.Instance == n && strings.HasPrefix(e.Message, prefix) {
				return e
			}
		case <-deadline:
			h.t.Fatalf("no %q event for replica %d within %s; instances: %+v", prefix, n, timeout, h.sup.Instances(h.name))
		}
	}
}

func (h *harness) logFile(n int, stream string) string {
	b, _ := os.ReadFile(filepath.Join(h.cfg.LogDir(h.name), app.NodeShortName(h.name, n)+"-"+stream+".log"))
	return string(b)
}

// processesUnder lists live processes whose command line mentions dir.
func processesUnder(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(cmdline), dir) {
			continue
		}
		if st, err := hostinfo.ReadProcess(pid); err == nil && st.State != 'Z' {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cpuTime is the CPU time this process has used so far.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func isNotStable(err error) bool {
	var ns *NotStableError
	return errors.As(err, &ns)
}

// testWriter sends the supervisor's log to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
