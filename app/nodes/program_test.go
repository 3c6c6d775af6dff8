package nodes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"deployex/app"
	"deployex/app/cli"
	"deployex/app/internal/fixture"
	"deployex/app/internal/otp27"
	"deployex/app/internal/testapp"
	"deployex/app/otp"
)

// These tests run the whole program in-process (testapp) supervising real
// releases, with deployex's own node on the test binary's epmd. They do not
// run in parallel: the replicas' node names are the same in each.

type instance struct {
	Instance       int    `json:"instance"`
	Node           string `json:"node"`
	Status         string `json:"status"`
	OSPid          int    `json:"os_pid"`
	OTP            string `json:"otp"`
	Stable         bool   `json:"stable"`
	CrashRestarts  int    `json:"crash_restarts"`
	ForcedRestarts int    `json:"forced_restarts"`
	LastError      string `json:"last_error"`
	BEAMMemory     int64  `json:"beam_memory_bytes"`
}

// program is one deployex under test with an operator token for its API.
type program struct {
	t     *testing.T
	app   *testapp.App
	api   *testapp.Client
	token string
	epmd  int
}

// settings every test starts from: short timings, distribution on.
func baseEnv(lang app.Language, replicas int) map[string]string {
	return map[string]string{
		"DEPLOYEX_MONITORED_APP_NAME":         fixture.AppName(lang),
		"DEPLOYEX_MONITORED_APP_LANG":         string(lang),
		"DEPLOYEX_MONITORED_REPLICAS":         strconv.Itoa(replicas),
		"DEPLOYEX_ERLANG_COOKIE":              "nodes-test",
		"DEPLOYEX_APP_READY_MS":               "1000",
		"DEPLOYEX_STOP_TIMEOUT_MS":            "5000",
		"DEPLOYEX_RESTART_BACKOFF_INITIAL_MS": "200",
		"DEPLOYEX_HEALTH_CHECK_INTERVAL_MS":   "300",
		"DEPLOYEX_HEALTH_CHECK_FAILURES":      "3",
	}
}

// start runs deployex over the replicas' current/ folders, which install
// fills (install(n, dir)), with env on top of baseEnv.
func start(t *testing.T, env map[string]string, install func(n int, dir string)) *program {
	t.Helper()
	epmd := fixture.EPMD(t)
	replicas, _ := strconv.Atoi(env["DEPLOYEX_MONITORED_REPLICAS"])
	data := t.TempDir()
	for n := 1; n <= replicas; n++ {
		install(n, filepath.Join(data, "varlib/service", env["DEPLOYEX_MONITORED_APP_NAME"], strconv.Itoa(n), "current"))
	}
	env["DEPLOYEX_DATA_DIR"] = data
	env["DEPLOYEX_MONITORED_APP_PORT"] = strconv.Itoa(fixture.FreePorts(t, replicas))
	a := testapp.Start(t, env, "--stop-apps-on-exit")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("deployex's log:\n%s", a.Stderr)
		}
	})
	code, out, stderr := a.Command("token", "create", "--name", "nodes-test", "--role", "operator")
	if code != 0 {
		t.Fatal(stderr)
	}
	return &program{t: t, app: a, api: a.Client(t), token: strings.TrimSpace(out), epmd: epmd}
}

// connectedAfterBoot waits for replica n's node to register with epmd (its
// VM booted far enough to have distribution up) and then to show as
// connected, which must take deployex less than 2 s. It returns the replica.
func (p *program) connectedAfterBoot(n int) instance {
	p.t.Helper()
	name := p.instances()[n-1].Node
	short, _, _ := strings.Cut(name, "@")
	var up time.Time
	for deadline := time.Now().Add(20 * time.Second); up.IsZero(); time.Sleep(10 * time.Millisecond) {
		if slices.Contains(fixture.EPMDNames(p.t, p.epmd), short) {
			up = time.Now()
		} else if time.Now().After(deadline) {
			p.t.Fatalf("%s never registered with epmd", name)
		}
	}
	in := p.wait(n, 5*time.Second, "connected", connected)
	p.t.Logf("%s connected %s after registering with epmd", name, time.Since(up).Round(time.Millisecond))
	if d := time.Since(up); d > 2*time.Second {
		p.t.Errorf("%s connected %s after its boot, want within 2 s", name, d)
	}
	return in
}

func (p *program) get(path string) testapp.Response {
	return p.api.Do("GET", path, nil, map[string]string{"Authorization": "Bearer " + p.token})
}

func (p *program) instances() []instance {
	p.t.Helper()
	r := p.get("/api/v1/apps")
	var body struct {
		Apps []struct {
			Instances []instance `json:"instances"`
		} `json:"apps"`
	}
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil || len(body.Apps) != 1 {
		p.t.Fatalf("apps: %d %s", r.Status, r.Body)
	}
	return body.Apps[0].Instances
}

// wait polls the API every 10 ms until ok accepts replica n, and returns it.
func (p *program) wait(n int, within time.Duration, what string, ok func(instance) bool) instance {
	p.t.Helper()
	var in instance
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if in = p.instances()[n-1]; ok(in) {
			return in
		}
	}
	p.t.Fatalf("replica %d: not %s within %s; last %+v", n, what, within, in)
	return in
}

func connected(in instance) bool { return in.OTP == "connected" }

// hungAndReplaced SIGSTOPs replica n's VM, once it is stable, with the rest
// of its process group: a stopped VM keeps its socket open, so only the
// health probe notices. It waits for the supervisor to kill it and for the
// new VM to connect, and returns the replica then.
func (p *program) hungAndReplaced(n int) instance {
	p.t.Helper()
	in := p.wait(n, 5*time.Second, "stable", func(in instance) bool { return in.Stable })
	// The pid the supervisor reports must be the VM, not a launcher around
	// it (the OTP 27 replica starts through chroot): stopping a wrapper
	// would leave the VM answering.
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", in.OSPid)); err != nil || strings.TrimSpace(string(comm)) != "beam.smp" {
		p.t.Fatalf("replica %d's pid %d is %q (%v), not the VM", n, in.OSPid, comm, err)
	}
	if err := syscall.Kill(-in.OSPid, syscall.SIGSTOP); err != nil {
		p.t.Fatal(err)
	}
	frozen := time.Now()
	next := p.wait(n, 20*time.Second, "replaced after SIGSTOP", func(x instance) bool {
		return connected(x) && x.OSPid != in.OSPid
	})
	p.t.Logf("SIGSTOP → killed, restarted and reconnected after %s", time.Since(frozen).Round(time.Millisecond))
	if d := time.Since(frozen); d > 10*time.Second {
		p.t.Errorf("a stopped VM took %s to be replaced", d)
	}
	if next.CrashRestarts != in.CrashRestarts+1 || next.ForcedRestarts != in.ForcedRestarts ||
		!strings.Contains(p.app.Stderr.String(), "replica unresponsive") {
		p.t.Errorf("after SIGSTOP: %+v, before %+v", next, in)
	}
	return next
}

// beamSeries is one replica in GET /host/beam/history.
type beamSeries struct {
	App       string    `json:"app"`
	Instance  int       `json:"instance"`
	Node      string    `json:"node"`
	Connected bool      `json:"connected"`
	T         []float64 `json:"t"`
	Total     []int64   `json:"total"`
	Processes []int64   `json:"processes"`
	Binary    []int64   `json:"binary"`
	ETS       []int64   `json:"ets"`
}

// beamHistory reads the host page's BEAM memory history with a session.
func beamHistory(t *testing.T, c *testapp.Client) []beamSeries {
	t.Helper()
	r := c.Get("/host/beam/history")
	var body struct {
		Replicas []beamSeries `json:"replicas"`
	}
	if err := json.Unmarshal([]byte(r.Body), &body); r.Status != 200 || err != nil {
		t.Fatalf("BEAM memory history: %d %v %s", r.Status, err, r.Body)
	}
	return body.Replicas
}

// waitBEAMHistory reads the BEAM memory history until ok holds; readings are
// taken in the background (on connection, then every 5 s), so a replica
// just connected may not have its newest one yet.
func waitBEAMHistory(t *testing.T, c *testapp.Client, what string, ok func([]beamSeries) bool) []beamSeries {
	t.Helper()
	h := beamHistory(t, c)
	for deadline := time.Now().Add(8 * time.Second); !ok(h); h = beamHistory(t, c) {
		if time.Now().After(deadline) {
			t.Fatalf("BEAM memory history: %s: %+v", what, h)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return h
}

// checkBEAMSeries: columns of one length, time moving forward, and sizes
// that erlang:memory/0 can give (total is processes plus system, and system
// holds binary and ets among others).
func checkBEAMSeries(t *testing.T, s beamSeries) {
	t.Helper()
	n := len(s.T)
	if len(s.Total) != n || len(s.Processes) != n || len(s.Binary) != n || len(s.ETS) != n {
		t.Fatalf("%s: columns of unequal length: %+v", s.Node, s)
	}
	for i := range n {
		if (i > 0 && s.T[i] <= s.T[i-1]) || s.Processes[i] <= 0 || s.Binary[i] <= 0 || s.ETS[i] <= 0 ||
			s.Total[i] <= s.Processes[i]+s.Binary[i]+s.ETS[i] {
			t.Errorf("%s: reading %d is not sane: %+v", s.Node, i, s)
			return
		}
	}
}

// installErlang puts the Erlang fixture into a replica's folder.
func installErlang(t *testing.T, dir string) {
	fixture.Install(t, app.Erlang, "1.0.0", fixture.Normal, dir)
}

// rewriteVMArgs edits an installed Erlang replica's vm.args.src, to give it
// settings deployex did not (another cookie, other TLS flags).
func rewriteVMArgs(t *testing.T, dir, old, new string) {
	t.Helper()
	path := filepath.Join(dir, "releases", "1.0.0", "vm.args.src")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s has no %q:\n%s", path, old, b)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// card returns the dashboard's card of replica n of appName.
func card(t *testing.T, page, appName string, n int) string {
	t.Helper()
	re := regexp.MustCompile(`(?s)<article class="card" id="instance-` + appName + "-" + strconv.Itoa(n) + `".*?</article>`)
	c := re.FindString(page)
	if c == "" {
		t.Fatalf("no card for %s-%d on the dashboard", appName, n)
	}
	return c
}

// The connectivity story on OTP 25 with real Erlang releases: connected soon
// after boot and shown live, node info over the API, kill -9 noticed at once
// and reconnected after the restart, a SIGSTOPped VM killed and restarted,
// and a replica with another cookie never stable.
func TestReplicasConnectedLive(t *testing.T) {
	p := start(t, baseEnv(app.Erlang, 2), func(n int, dir string) {
		installErlang(t, dir)
		if n == 2 {
			rewriteVMArgs(t, dir, "-setcookie ${RELEASE_COOKIE}", "-setcookie not-deployex")
		}
	})

	booted := p.connectedAfterBoot(1)

	// Node info, read now over the API.
	r := p.get("/api/v1/apps/erlfix/instances/1/info")
	var info struct {
		Node          string `json:"node"`
		OSPid         int    `json:"os_pid"`
		OTPRelease    string `json:"otp_release"`
		ElixirVersion string `json:"elixir_version"`
		Memory        struct {
			Total, Processes, Binary, ETS, Atom int64
		} `json:"memory"`
		ProcessCount int64             `json:"process_count"`
		ProcessLimit int64             `json:"process_limit"`
		PortCount    int64             `json:"port_count"`
		AtomCount    int64             `json:"atom_count"`
		AtomLimit    int64             `json:"atom_limit"`
		UptimeS      int64             `json:"uptime_s"`
		Applications map[string]string `json:"applications"`
	}
	if err := json.Unmarshal([]byte(r.Body), &info); r.Status != 200 || err != nil {
		t.Fatalf("info: %d %s", r.Status, r.Body)
	}
	m := info.Memory
	if info.Node != booted.Node || info.OSPid != booted.OSPid || info.OTPRelease != "25" || info.ElixirVersion != "" ||
		m.Total <= 0 || m.Processes <= 0 || m.Binary <= 0 || m.ETS <= 0 || m.Atom <= 0 || m.Processes >= m.Total ||
		info.ProcessCount < 20 || info.ProcessCount >= info.ProcessLimit || info.PortCount < 1 ||
		info.AtomCount < 5000 || info.AtomCount >= info.AtomLimit ||
		info.Applications["erlfix"] != "1.0.0" || info.Applications["kernel"] == "" {
		t.Errorf("info of %s (pid %d): %s", booted.Node, booted.OSPid, r.Body)
	}
	for path, want := range map[string]int{
		"/api/v1/apps/erlfix/instances/2/info": http.StatusServiceUnavailable, // never connects
		"/api/v1/apps/erlfix/instances/3/info": http.StatusNotFound,
		"/api/v1/apps/nope/instances/1/info":   http.StatusNotFound,
	} {
		if r := p.get(path); r.Status != want || !strings.Contains(r.Body, `"error"`) {
			t.Errorf("GET %s: %d %s, want %d", path, r.Status, r.Body, want)
		}
	}

	// The dashboard: connected and BEAM memory on the card, deployex's node on its own card.
	p.wait(1, 5*time.Second, "showing BEAM memory", func(in instance) bool { return in.BEAMMemory > 0 })
	admin := p.app.Client(t)
	admin.MustLogin("admin", "deployex")
	page := admin.Get("/").Body
	host, _ := otp.ShortHostname()
	if c := card(t, page, "erlfix", 1); !strings.Contains(c, ">connected<") || !strings.Contains(c, "BEAM memory") {
		t.Errorf("card of a connected replica:\n%s", c)
	}
	if c := card(t, page, "erlfix", 2); !strings.Contains(c, ">disconnected<") || strings.Contains(c, "BEAM memory") {
		t.Errorf("card of a disconnected replica:\n%s", c)
	}
	if !strings.Contains(page, "deployex@"+host) {
		t.Errorf("the deployex card does not name deployex@%s", host)
	}
	before := waitBEAMHistory(t, admin, "a reading of erlfix-1, none of erlfix-2", func(h []beamSeries) bool {
		return len(h) == 2 && h[0].Node == booted.Node && h[0].App == "erlfix" && h[0].Instance == 1 &&
			h[0].Connected && len(h[0].T) > 0 && h[1].Instance == 2 && !h[1].Connected && len(h[1].T) == 0
	})
	checkBEAMSeries(t, before[0])
	hostPage := admin.Get("/host").Body
	for name, want := range map[string]string{"erlfix-1": " MiB</td>", "erlfix-2": "not connected"} {
		if row := regexp.MustCompile(`(?s)<th scope="row">` + name + `</th>.*?</tr>`).FindString(hostPage); !strings.Contains(row, want) {
			t.Errorf("BEAM memory table row of %s lacks %q: %s", name, want, row)
		}
	}

	// A live stream sees the card change when the node goes.
	stream := openStream(t, p.app.URL, admin)
	stream.waitFor(t, regexp.MustCompile(`event: instance-erlfix-1\n(data: .*\n)*data: .*>connected<`), 2*time.Second)
	stream.buf.Reset()
	if err := syscall.Kill(booted.OSPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	p.wait(1, time.Second, "disconnected", func(in instance) bool { return !connected(in) })
	t.Logf("kill -9 → otp disconnected in the API after %s", time.Since(killed).Round(time.Millisecond))
	stream.waitFor(t, regexp.MustCompile(`event: instance-erlfix-1\n(data: .*\n)*data: .*>disconnected<`), 2*time.Second)
	second := p.wait(1, 10*time.Second, "reconnected after the restart", func(in instance) bool {
		return connected(in) && in.OSPid != booted.OSPid
	})
	t.Logf("kill -9 → reconnected to the new VM after %s", time.Since(killed).Round(time.Millisecond))
	if second.CrashRestarts != 1 {
		t.Errorf("crash restarts %d after kill -9", second.CrashRestarts)
	}

	p.hungAndReplaced(1)

	// The host page's BEAM memory history kept erlfix-1's readings through
	// both restarts and went on adding to them.
	after := waitBEAMHistory(t, admin, fmt.Sprintf("erlfix-1's readings %v kept and added to", before[0].T), func(h []beamSeries) bool {
		return len(h) == 2 && len(h[0].T) > len(before[0].T) && slices.Equal(h[0].T[:len(before[0].T)], before[0].T) &&
			h[0].Connected && time.Since(time.UnixMilli(int64(h[0].T[len(h[0].T)-1]*1000))) <= 10*time.Second
	})
	checkBEAMSeries(t, after[0])

	// The replica with another cookie runs, but is neither connected nor stable.
	wrong := p.instances()[1]
	if wrong.Status != "running" || wrong.OSPid == 0 || wrong.Stable || connected(wrong) {
		t.Errorf("replica with a foreign cookie: %+v", wrong)
	}
}

// sseStream reads a dashboard event stream in the background.
type sseStream struct {
	lines chan string
	buf   strings.Builder
}

func openStream(t *testing.T, base string, c *testapp.Client) *sseStream {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/events", nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	resp, err := c.Client.Do(req.WithContext(ctx))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("event stream: %v %v", err, resp)
	}
	s := &sseStream{lines: make(chan string, 1024)}
	go func() {
		defer resp.Body.Close()
		b := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(b)
			if n > 0 {
				s.lines <- string(b[:n])
			}
			if err != nil {
				close(s.lines)
				return
			}
		}
	}()
	return s
}

// waitFor reads the stream until re matches what arrived so far.
func (s *sseStream) waitFor(t *testing.T, re *regexp.Regexp, within time.Duration) {
	t.Helper()
	timeout := time.After(within)
	for !re.MatchString(s.buf.String()) {
		select {
		case chunk, ok := <-s.lines:
			if !ok {
				t.Fatalf("event stream ended without %s", re)
			}
			s.buf.WriteString(chunk)
		case <-timeout:
			t.Fatalf("no %s on the event stream within %s", re, within)
		}
	}
}

// genCerts runs `deployex gen-certs` into a new folder.
func genCerts(t *testing.T, host string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "certs")
	var out strings.Builder
	code := cli.Run(context.Background(), cli.Env{Args: []string{"gen-certs", dir, "--host", host},
		Getenv: func(string) (string, bool) { return "", false }, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out})
	if code != 0 {
		t.Fatalf("gen-certs: %d %s", code, out.String())
	}
	return dir
}

// buildErlangTLS builds the Erlang fixture with ssl added to its release, as
// an app using TLS distribution must have it, and returns its tarball. The
// shared fixture leaves ssl out: in embedded mode its modules load at every
// boot, which slows every other test's replicas by about 130 ms.
func buildErlangTLS(t *testing.T) string {
	t.Helper()
	work := t.TempDir()
	for _, dir := range []string{"erlfix", "shared"} {
		if err := os.CopyFS(filepath.Join(work, dir), os.DirFS(filepath.Join("../../testdata", dir))); err != nil {
			t.Fatal(err)
		}
	}
	config := filepath.Join(work, "erlfix", "rebar.config")
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	withSSL := strings.Replace(string(b), "[erlfix, sasl]", "[erlfix, sasl, ssl]", 1)
	if withSSL == string(b) {
		t.Fatalf("%s no longer lists the release's applications as [erlfix, sasl]:\n%s", config, b)
	}
	if err := os.WriteFile(config, []byte(withSSL), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("rebar3", "as", "prod", "tar")
	cmd.Dir = filepath.Join(work, "erlfix")
	cmd.Env = append(os.Environ(), "HOME="+work, "REBAR_CACHE_DIR="+work+"/.cache", "FIXTURE_VSN=1.0.0")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rebar3 as prod tar: %v\n%s", err, out)
	}
	t.Logf("built the Erlang fixture with ssl in %s", time.Since(start).Round(time.Millisecond))
	return filepath.Join(cmd.Dir, "_build/prod/rel/erlfix/erlfix-1.0.0.tar.gz")
}

// With DEPLOYEX_OTP_TLS_CERT_PATH, replicas get TLS distribution through
// RELEASE_SSL_OPTIONS and connect; one whose certificates come from another
// CA, and one on plain TCP, are refused and never stable.
func TestTLSDistribution(t *testing.T) {
	host, _ := otp.ShortHostname()
	certs := genCerts(t, host)
	foreign := genCerts(t, host)
	foreignOpt := filepath.Join(foreign, "ssl_dist.conf")
	if err := otp.WriteSSLDistOptFile(foreignOpt, foreign); err != nil {
		t.Fatal(err)
	}
	env := baseEnv(app.Erlang, 3)
	env["DEPLOYEX_OTP_TLS_CERT_PATH"] = certs
	tarball := buildErlangTLS(t)
	p := start(t, env, func(n int, dir string) {
		fixture.Unpack(t, tarball, dir)
		switch n {
		case 2:
			rewriteVMArgs(t, dir, "${RELEASE_SSL_OPTIONS}", "-proto_dist inet_tls -ssl_dist_optfile "+foreignOpt)
		case 3:
			rewriteVMArgs(t, dir, "${RELEASE_SSL_OPTIONS}", "")
		}
	})
	p.connectedAfterBoot(1)
	p.wait(1, 5*time.Second, "stable", func(in instance) bool { return in.Stable })
	// By now the others have been up past the ready period and probed.
	time.Sleep(time.Second)
	for _, in := range p.instances()[1:] {
		if in.Status != "running" || in.OSPid == 0 || connected(in) || in.Stable {
			t.Errorf("replica %d must run unconnected and unstable: %+v", in.Instance, in)
		}
	}
	if r := p.get("/api/v1/apps/erlfix/instances/1/info"); r.Status != 200 || !strings.Contains(r.Body, `"ssl"`) {
		t.Errorf("info over TLS: %d %s", r.Status, r.Body)
	}

	admin := p.app.Client(t)
	admin.MustLogin("admin", "deployex")
	page := admin.Get("/").Body
	self := regexp.MustCompile(`(?s)<article class="card" id="deployex-card".*?</article>`).FindString(page)
	expiry, _ := otp.CertExpiry(certs)
	if !strings.Contains(self, "on · certificate") || !strings.Contains(self, "expires in") ||
		!strings.Contains(self, expiry.UTC().Format(time.RFC3339)) {
		t.Errorf("deployex card with mTLS:\n%s", self)
	}
	if b, err := os.ReadFile(filepath.Join(p.app.Env["DEPLOYEX_DATA_DIR"], "otp", "ssl_dist.conf")); err != nil ||
		!strings.Contains(string(b), filepath.Join(certs, "ca.crt")) || !strings.Contains(string(b), "verify_peer") {
		t.Errorf("ssl_dist_optfile: %v\n%s", err, b)
	}
}

// A Gleam shipment runs on the host's erl with the TLS flags deployex adds
// to its argv: it connects to deployex's TLS-only node, is stable, and
// answers node info.
func TestGleamReplicaOverTLS(t *testing.T) {
	host, _ := otp.ShortHostname()
	env := baseEnv(app.Gleam, 1)
	env["DEPLOYEX_OTP_TLS_CERT_PATH"] = genCerts(t, host)
	p := start(t, env, func(n int, dir string) {
		fixture.Install(t, app.Gleam, "1.0.0", fixture.Normal, dir)
	})
	booted := p.connectedAfterBoot(1)
	p.wait(1, 5*time.Second, "stable", func(in instance) bool { return in.Stable })
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", booted.OSPid))
	if err != nil || !strings.Contains(string(cmdline), "inet_tls") {
		t.Errorf("the Gleam VM runs without TLS distribution: %q %v", cmdline, err)
	}
	// deployex's node speaks TLS only, so an answer came over TLS.
	if r := p.get("/api/v1/apps/" + fixture.AppName(app.Gleam) + "/instances/1/info"); r.Status != 200 || !strings.Contains(r.Body, `"gleamfix":"1.0.0"`) {
		t.Errorf("info over TLS: %d %s", r.Status, r.Body)
	}
}

// A certificate folder without the files refuses to start, saying why.
func TestBadCertPathRefusesToStart(t *testing.T) {
	env := map[string]string{"DEPLOYEX_OTP_TLS_CERT_PATH": t.TempDir(), "DEPLOYEX_DATA_DIR": t.TempDir(),
		"DEPLOYEX_RELEASE_BUCKET": t.TempDir(), "DEPLOYEX_PHX_PORT": strconv.Itoa(testapp.FreePort(t))}
	var out strings.Builder
	code := cli.Run(context.Background(), cli.Env{Args: []string{"serve"}, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &out,
		Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if code != 2 || !strings.Contains(out.String(), "DEPLOYEX_OTP_TLS_CERT_PATH") || !strings.Contains(out.String(), "gen-certs") {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
}

// buildElixir27 builds the Elixir fixture with OTP 27 and Elixir 1.18 inside
// the trixie chroot and returns the release's folder as seen from inside it.
func buildElixir27(t *testing.T, root string) string {
	t.Helper()
	work, err := os.MkdirTemp(filepath.Join(root, "tmp"), "deployex-nodes-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := os.CopyFS(filepath.Join(work, "exfix"), os.DirFS("../../testdata/exfix")); err != nil {
		t.Fatal(err)
	}
	inside := strings.TrimPrefix(work, root)
	cmd := otp27.Command(root, "/bin/sh", "-c", "cd "+inside+"/exfix && mix release --overwrite --quiet")
	cmd.Env = append(os.Environ(), "HOME="+inside, "MIX_HOME="+inside+"/.mix", "MIX_ENV=prod", "HEX_OFFLINE=1", "FIXTURE_VSN=1.0.0")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mix release inside the OTP 27 chroot: %v\n%s", err, out)
	}
	t.Logf("built the OTP 27 Elixir fixture in %s", time.Since(start).Round(time.Millisecond))
	return inside + "/exfix/_build/prod/rel/exfix"
}

// OTP 27 and Elixir 1.18 (through the UNLINK_ID handshake and proto
// wrappers): deployex supervises a release built and run inside the trixie
// chroot. The replica's current/ folder holds only bin/exfix, a launcher
// that enters the chroot, so the supervisor starts it like any Elixir release.
func TestOTP27ElixirReplica(t *testing.T) {
	root := otp27.Root(t)
	rel := buildElixir27(t, root)
	p := start(t, baseEnv(app.Elixir, 1), func(n int, dir string) {
		launcher := fmt.Sprintf("#!/bin/sh\nexec chroot %s %s/bin/exfix \"$@\"\n", root, rel)
		if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bin", "exfix"), []byte(launcher), 0o755); err != nil {
			t.Fatal(err)
		}
	})
	booted := p.connectedAfterBoot(1)
	r := p.get("/api/v1/apps/exfix/instances/1/info")
	var info struct {
		OSPid         int               `json:"os_pid"`
		OTPRelease    string            `json:"otp_release"`
		ElixirVersion string            `json:"elixir_version"`
		Applications  map[string]string `json:"applications"`
	}
	if err := json.Unmarshal([]byte(r.Body), &info); err != nil || info.OTPRelease != "27" || info.OSPid != booted.OSPid ||
		!strings.HasPrefix(info.ElixirVersion, "1.18") || info.Applications["exfix"] != "1.0.0" {
		t.Errorf("info: %d %s", r.Status, r.Body)
	}
	p.wait(1, 5*time.Second, "stable", func(in instance) bool { return in.Stable })

	if err := syscall.Kill(booted.OSPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	p.wait(1, time.Second, "disconnected", func(in instance) bool { return !connected(in) })
	t.Logf("kill -9 → otp disconnected in the API after %s", time.Since(killed).Round(time.Millisecond))
	p.wait(1, 10*time.Second, "reconnected after the restart", func(in instance) bool {
		return connected(in) && in.OSPid != booted.OSPid
	})
	t.Logf("kill -9 → reconnected to the new VM after %s", time.Since(killed).Round(time.Millisecond))

	p.hungAndReplaced(1)

	admin := p.app.Client(t)
	admin.MustLogin("admin", "deployex")
	h := waitBEAMHistory(t, admin, "two readings of the OTP 27 replica", func(h []beamSeries) bool {
		return len(h) == 1 && h[0].Node == booted.Node && h[0].Connected && len(h[0].T) >= 2
	})
	checkBEAMSeries(t, h[0])
}

// When deployex's node cannot start (here: something that is not epmd holds
// the EPMD port), deployex serves on, says why on its card and reports the
// replicas disconnected; once a real epmd is there, the retry starts the node.
func TestNodeStartFailureKeepsServing(t *testing.T) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	fixture.EPMD(t) // sets ERL_EPMD_PORT once per test binary: before ours
	t.Setenv("ERL_EPMD_PORT", strconv.Itoa(port))
	// Nothing deployed: the replica stays idle and needs no epmd.
	p := start(t, baseEnv(app.Erlang, 1), func(int, string) {})
	admin := p.app.Client(t)
	admin.MustLogin("admin", "deployex")
	selfCard := func() string {
		return regexp.MustCompile(`(?s)<article class="card" id="deployex-card".*?</article>`).FindString(admin.Get("/").Body)
	}
	var self string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(self, "not running:"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the deployex card never said why the node is not running:\n%s", self)
		}
		self = selfCard()
	}
	if !strings.Contains(self, strconv.Itoa(port)) {
		t.Errorf("the reason should name the EPMD port %d:\n%s", port, self)
	}
	if in := p.instances()[0]; in.OTP != "disconnected" || in.Status != "idle" {
		t.Errorf("replica while the node is down: %+v", in)
	}

	ln.Close()
	epmd := exec.Command("epmd", "-port", strconv.Itoa(port))
	if err := epmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { epmd.Process.Kill(); epmd.Wait() })
	host, _ := otp.ShortHostname()
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(self, "deployex@"+host); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the node did not start once epmd was there:\n%s", self)
		}
		self = selfCard()
	}
	if !strings.Contains(p.app.Stderr.String(), "OTP distribution is not running") {
		t.Error("deployex's log does not say that distribution is not running")
	}
}

// With DEPLOYEX_OTP_DISTRIBUTION=false deployex runs no node: the API says
// so and reports no connectivity, the card says distribution is off.
func TestDistributionOff(t *testing.T) {
	env := baseEnv(app.Erlang, 1)
	env["DEPLOYEX_OTP_DISTRIBUTION"] = "false"
	p := start(t, env, func(int, string) {})
	if r := p.get("/api/v1/apps/erlfix/instances/1/info"); r.Status != http.StatusConflict || !strings.Contains(r.Body, "DEPLOYEX_OTP_DISTRIBUTION") {
		t.Errorf("info with distribution off: %d %s", r.Status, r.Body)
	}
	if in := p.instances()[0]; in.OTP != "" {
		t.Errorf("otp %q with distribution off", in.OTP)
	}
	admin := p.app.Client(t)
	admin.MustLogin("admin", "deployex")
	if page := admin.Get("/").Body; !strings.Contains(page, "distribution off") {
		t.Error("the deployex card does not say distribution is off")
	}
}
