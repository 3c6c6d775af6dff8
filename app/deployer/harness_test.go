package deployer

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"deployex/app"
	"deployex/app/config"
	"deployex/app/events"
	"deployex/app/internal/fixture"
	"deployex/app/release"
	"deployex/app/supervisor"
	"deployex/db"
)

// harness is deployex's engine on one app made of real fixture releases: the
// real supervisor, the real deployer, a real SQLite file and a bucket (a local
// folder unless the test swaps the source), with its own epmd.
type harness struct {
	t      testing.TB
	lang   app.Language
	name   string
	bucket string
	port   int
	epmd   int // the harness's own epmd, which its replicas register with
	cfg    *config.Config
	store  *db.Store
	sup    *supervisor.Supervisor
	dep    *Deployer
	cancel context.CancelFunc
	done   chan struct{}
}

func newHarness(t testing.TB, lang app.Language, replicas int, settings map[string]string) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, lang: lang, name: fixture.AppName(lang), bucket: filepath.Join(dir, "bucket"),
		port: fixture.FreePorts(t, replicas)}
	env := map[string]string{
		"DEPLOYEX_DATA_DIR":                    dir + "/data",
		"DEPLOYEX_LOG_DIR":                     dir + "/log",
		"DEPLOYEX_RELEASE_BUCKET":              h.bucket,
		"DEPLOYEX_MONITORED_APP_NAME":          h.name,
		"DEPLOYEX_MONITORED_APP_LANG":          string(lang),
		"DEPLOYEX_MONITORED_REPLICAS":          strconv.Itoa(replicas),
		"DEPLOYEX_MONITORED_APP_PORT":          strconv.Itoa(h.port),
		"DEPLOYEX_ERLANG_COOKIE":               "deployer-test",
		"DEPLOYEX_APP_READY_MS":                "1000",
		"DEPLOYEX_RESTART_BACKOFF_INITIAL_MS":  "200",
		"DEPLOYEX_RESTART_BACKOFF_MAX_MS":      "800",
		"DEPLOYEX_STOP_TIMEOUT_MS":             "3000",
		"DEPLOYEX_DEPLOY_SCHEDULE_INTERVAL_MS": "200",
		"DEPLOYEX_DEPLOY_TIMEOUT_ROLLBACK_MS":  "60000",
	}
	for k, v := range settings {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	h.epmd = fixture.PrivateEPMD(t)
	cfg.Apps[0].Env = append(cfg.Apps[0].Env, app.EnvVar{Key: "ERL_EPMD_PORT", Value: strconv.Itoa(h.epmd)})
	h.cfg = cfg
	if h.store, err = db.Open(context.Background(), cfg.DBPath()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.stop)
	return h
}

// start runs the supervisor and the deployer against src (nil: the configured bucket).
func (h *harness) start(src release.Source, opts ...Option) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if src == nil {
		var err error
		if src, err = release.NewSource(ctx, h.cfg); err != nil {
			h.t.Fatal(err)
		}
	}
	log := h.logger()
	bus := events.NewBus()
	h.sup = supervisor.New(h.cfg, h.store, bus, log)
	h.dep = New(h.cfg, h.store, bus, src, h.sup, log, opts...)
	h.cancel, h.done = cancel, make(chan struct{})
	depDone := make(chan struct{})
	go func() {
		defer close(depDone)
		h.dep.Run(ctx)
	}()
	go func() {
		defer close(h.done)
		h.sup.Run(ctx)
		<-depDone
	}()
}

func (h *harness) stop() {
	if h.cancel != nil {
		h.cancel()
		<-h.done
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		h.sup.Shutdown(ctx, true)
		h.cancel = nil
	}
	h.store.Close()
}

// publish puts a fixture release of version into the bucket (when v is not
// nil) and points current.json at it.
func (h *harness) publish(version string, v *fixture.Variant, preCommands ...string) {
	h.t.Helper()
	if v != nil {
		h.putTarball(version, fixture.Release(h.t, h.lang, version, *v))
	}
	body, _ := json.Marshal(map[string]any{"version": version, "hash": "h-" + version, "pre_commands": preCommands})
	h.putCurrent(body)
}

func (h *harness) putTarball(version, src string) {
	h.t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		h.t.Fatal(err)
	}
	h.write(filepath.Join("dist", h.name, h.name+"-"+version+".tar.gz"), b)
}

func (h *harness) putCurrent(body []byte) {
	h.t.Helper()
	h.write(filepath.Join("versions", h.name, "local", "current.json"), body)
}

func (h *harness) write(rel string, b []byte) {
	h.t.Helper()
	p := filepath.Join(h.bucket, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	// Write then rename, as a bucket upload appears: whole or not at all.
	if err := os.WriteFile(p+".tmp", b, 0o644); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		h.t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the time runs out.
func (h *harness) waitFor(what string, timeout time.Duration, cond func() bool) {
	h.t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %s waiting for %s; replicas %+v; deployer %+v", timeout, what, h.sup.Instances(h.name), h.dep.Status(h.name))
		}
	}
}

// answering reports whether every replica runs version and answers it on its port.
func (h *harness) answering(version string) bool {
	for i, inst := range h.sup.Instances(h.name) {
		if inst.Version != version || inst.Status != app.StatusRunning {
			return false
		}
		if got, err := fixture.Call(h.port+i, "version"); err != nil || got != version {
			return false
		}
	}
	return true
}

// deployed reports whether every replica answers version and no deployment
// is still in progress.
func (h *harness) deployed(version string) bool {
	for _, d := range h.history() {
		if d.Result == "running" {
			return false
		}
	}
	return h.answering(version)
}

func (h *harness) history() []db.Deployment {
	h.t.Helper()
	rows, err := h.store.ListDeployments(context.Background(), db.ListDeploymentsParams{App: h.name, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	return rows
}

func (h *harness) ghosted(version string) bool {
	g, err := h.store.IsGhosted(context.Background(), db.IsGhostedParams{App: h.name, Version: version})
	return err == nil && g
}

func (h *harness) audits(action string) int {
	rows, _ := h.store.ListAudit(context.Background(), db.ListAuditParams{ID: 1 << 62, Limit: 10000})
	n := 0
	for _, r := range rows {
		if r.Action == action {
			n++
		}
	}
	return n
}

// logger sends the engine's log to the test log, shown on failure. A
// benchmark prints its log even when it passes, so there it is dropped.
func (h *harness) logger() *slog.Logger {
	var w io.Writer = testWriter{h.t}
	if _, bench := h.t.(*testing.B); bench {
		w = io.Discard
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func variant(v fixture.Variant) *fixture.Variant { return &v }

// withoutEntry copies a release tarball without the entry named name (a
// path inside the release, as "releases/2.0.0/relup") and returns the copy.
func withoutEntry(t testing.TB, tarball, name string) string {
	t.Helper()
	dropped := false
	out := rewriteTarball(t, tarball, func(hdr *tar.Header) bool {
		drop := path.Clean(hdr.Name) == name
		dropped = dropped || drop
		return !drop
	}, nil)
	if !dropped {
		t.Fatalf("%s has no %s", tarball, name)
	}
	return out
}

// rewriteTarball copies a gzipped tarball into a temporary file with the
// entries keep accepts, then lets add write more, and returns the copy.
func rewriteTarball(t testing.TB, src string, keep func(*tar.Header) bool, add func(*tar.Writer) error) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tr, tw := tar.NewReader(zr), tar.NewWriter(zw)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if keep != nil && !keep(hdr) {
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	if add != nil {
		if err := add(tw); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}
