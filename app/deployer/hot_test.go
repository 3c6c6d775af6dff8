package deployer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"deployex/app"
	"deployex/app/internal/fixture"
	"deployex/app/otp"
)

// otpNode starts deployex's OTP node on the harness's epmd with its cookie,
// as serve does, and hands it to the deployer as its upgrader.
func (h *harness) otpNode() *otp.Node {
	h.t.Helper()
	n, err := otp.Start(context.Background(), otp.Options{Cookie: h.cfg.Cookie, EPMDPort: h.epmd, Logger: h.logger()})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(n.Stop)
	return n
}

// pids returns the OS pid every replica answers with.
func (h *harness) pids() []string {
	h.t.Helper()
	var out []string
	for i := range h.cfg.Apps[0].Replicas {
		pid, err := fixture.Call(h.port+i, "os_pid")
		if err != nil {
			h.t.Fatalf("replica %d: %v", i+1, err)
		}
		out = append(out, pid)
	}
	return out
}

// codeVersions returns what every replica's loaded server code was built as.
func (h *harness) codeVersions() []string {
	h.t.Helper()
	var out []string
	for i := range h.cfg.Apps[0].Replicas {
		v, err := fixture.Call(h.port+i, "code_version")
		if err != nil {
			h.t.Fatalf("replica %d: %v", i+1, err)
		}
		out = append(out, v)
	}
	return out
}

func (h *harness) folderVersion(n int, folder string) string {
	v, err := folderVersion(filepath.Join(h.cfg.ServiceDir(h.name, n), folder))
	if err != nil {
		return err.Error()
	}
	return v
}

func same(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// TestHotUpgrade is the life of an app deployed by hot upgrades, in Erlang
// (relx) and Elixir (mix): v1 → v2 replaces the code in the running VMs
// (same OS pids, the new module answers) after a pre_command ran from the
// new release; a cold restart then boots v2; v3, whose appup names a module
// that does not exist, is refused by release_handler before install: it is
// ghosted and the VMs keep serving v2 with the same pids; v4 goes in hot.
func TestHotUpgrade(t *testing.T) {
	t.Parallel()
	for _, lang := range []app.Language{app.Erlang, app.Elixir} {
		t.Run(string(lang), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, lang, 2, nil)
			h.publish("1.0.0", variant(fixture.Normal))
			h.start(nil, WithUpgrader(h.otpNode()))
			h.waitFor("1.0.0 on every replica", 60*time.Second, func() bool { return h.deployed("1.0.0") })
			pids := h.pids()
			if d := h.history()[0]; d.Kind != string(app.FullDeployment) {
				t.Fatalf("a first deployment is a full one: %+v", d)
			}

			marker := filepath.Join(t.TempDir(), "cwd")
			pre := `eval ok = file:write_file("` + marker + `", element(2, file:get_cwd()))`
			if lang == app.Elixir {
				pre = `eval File.write!("` + marker + `", File.cwd!())`
			}
			h.publish("2.0.0", variant(fixture.HotUpgradeFrom("1.0.0")), pre)
			h.waitFor("2.0.0 on every replica", 30*time.Second, func() bool { return h.deployed("2.0.0") })
			if got := h.pids(); !same(got, pids) {
				t.Fatalf("a hot upgrade must keep the OS processes: pids %v, were %v", got, pids)
			}
			if got := h.codeVersions(); !same(got, []string{"2.0.0", "2.0.0"}) {
				t.Fatalf("the new code must answer: code versions %v", got)
			}
			for _, d := range h.history()[:2] {
				if d.Version != "2.0.0" || d.Kind != string(app.HotUpgrade) || d.Result != "ok" {
					t.Fatalf("history row %+v, want an ok hot_upgrade to 2.0.0", d)
				}
			}
			if b, err := os.ReadFile(marker); err != nil || filepath.Base(string(b)) != "new" {
				t.Fatalf("the pre_command must run from new/: %q %v", b, err)
			}
			for n := 1; n <= 2; n++ {
				if c, p := h.folderVersion(n, "current"), h.folderVersion(n, "previous"); c != "2.0.0" || p != "1.0.0" {
					t.Fatalf("replica %d folders: current/ %s, previous/ %s; want 2.0.0 and 1.0.0", n, c, p)
				}
				for _, gone := range []string{"new", "pre-upgrade"} {
					if _, err := os.Stat(filepath.Join(h.cfg.ServiceDir(h.name, n), gone)); !os.IsNotExist(err) {
						t.Fatalf("replica %d: %s/ left behind (%v)", n, gone, err)
					}
				}
			}

			// A cold restart boots what release_handler made permanent.
			if err := h.sup.Restart(context.Background(), h.name, 1, "test"); err != nil {
				t.Fatal(err)
			}
			fixture.WaitCall(t, h.port, "version", 20*time.Second)
			restarted := h.pids()
			if restarted[0] == pids[0] {
				t.Fatal("Restart kept the OS process")
			}
			if v, _ := fixture.Call(h.port, "version"); v != "2.0.0" || h.codeVersions()[0] != "2.0.0" {
				t.Fatalf("after a cold restart replica 1 runs %s, code %s; want 2.0.0", v, h.codeVersions()[0])
			}
			h.waitFor("replica 1 stable again", 30*time.Second, func() bool { return h.sup.Instances(h.name)[0].Stable })

			h.publish("3.0.0", variant(fixture.BrokenHotUpgradeFrom("2.0.0")))
			h.waitFor("3.0.0 ghosted", 30*time.Second, func() bool { return h.ghosted("3.0.0") })
			h.waitFor("the rollout to end", 10*time.Second, func() bool { return h.deployed("2.0.0") })
			if got := h.pids(); !same(got, restarted) {
				t.Fatalf("a refused upgrade must leave the VMs alone: pids %v, were %v", got, restarted)
			}
			if got := h.codeVersions(); !same(got, []string{"2.0.0", "2.0.0"}) {
				t.Fatalf("code versions %v after a refused upgrade", got)
			}
			d := h.history()[0]
			if d.Version != "3.0.0" || d.Kind != string(app.HotUpgrade) || d.Result != "failed" || d.Instance != 1 ||
				!strings.Contains(d.Error, "check_install_release") || !strings.Contains(d.Error, "fixture_missing_module") {
				t.Fatalf("history row %+v, want replica 1's hot_upgrade refused by check_install_release for the missing module", d)
			}
			if len(h.history()) != 5 {
				t.Fatalf("replica 2 must not be tried after replica 1 refused 3.0.0: %+v", h.history()[:2])
			}
			if _, err := os.Stat(filepath.Join(h.cfg.ServiceDir(h.name, 1), "current", "releases", "3.0.0")); !os.IsNotExist(err) {
				t.Fatalf("the refused release is left in current/: %v", err)
			}
			if p := h.dep.Status(h.name).Problem; !strings.Contains(p, "3.0.0 ghosted") {
				t.Fatalf("the dashboard must say why: %q", p)
			}

			// release_handler's records survived the cold restart and the
			// refusal: the next release goes in hot again, and as it ships
			// no relup, each node makes one from the appups.
			relup := filepath.Join("releases", "4.0.0", "relup")
			h.putTarball("4.0.0", withoutEntry(t, fixture.Release(t, lang, "4.0.0", fixture.HotUpgradeFrom("2.0.0")), relup))
			h.publish("4.0.0", nil)
			h.waitFor("4.0.0 on every replica", 30*time.Second, func() bool { return h.deployed("4.0.0") })
			if got := h.pids(); !same(got, restarted) || !same(h.codeVersions(), []string{"4.0.0", "4.0.0"}) {
				t.Fatalf("4.0.0 must be hot: pids %v (were %v), code versions %v", got, restarted, h.codeVersions())
			}
			for n := 1; n <= 2; n++ {
				if _, err := os.Stat(filepath.Join(h.cfg.ServiceDir(h.name, n), "current", relup)); err != nil {
					t.Errorf("replica %d: no relup made on the node: %v", n, err)
				}
			}
		})
	}
}

// TestGleamIsAlwaysFull: a Gleam shipment has no release_handler, so even
// with an OTP node at hand every deployment stops and starts the replica.
func TestGleamIsAlwaysFull(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.Gleam, 1, nil)
	h.publish("1.0.0", variant(fixture.Normal))
	h.start(nil, WithUpgrader(h.otpNode()))
	h.waitFor("1.0.0", 60*time.Second, func() bool { return h.deployed("1.0.0") })
	pid := h.pids()[0]
	h.publish("2.0.0", variant(fixture.Normal))
	h.waitFor("2.0.0", 60*time.Second, func() bool { return h.deployed("2.0.0") })
	if d := h.history()[0]; d.Kind != string(app.FullDeployment) || d.Result != "ok" {
		t.Fatalf("history row %+v, want an ok full_deployment", d)
	}
	if h.pids()[0] == pid {
		t.Fatal("a full deployment starts a new VM")
	}
}

// TestHotUpgradeFailingInstallFallsBack: release_handler fails half way
// through install_release (and restarts the old release in the VM), so the
// deployer deploys the same release fully, from the snapshot of current/ it
// took before the upgrade. The version is not ghosted.
func TestHotUpgradeFailingInstallFallsBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.Erlang, 1, nil)
	h.publish("1.0.0", variant(fixture.Normal))
	h.start(nil, WithUpgrader(h.otpNode()))
	h.waitFor("1.0.0", 60*time.Second, func() bool { return h.deployed("1.0.0") })
	pid := h.pids()[0]
	h.publish("2.0.0", variant(fixture.FailingHotUpgradeFrom("1.0.0")))
	h.waitFor("2.0.0", 60*time.Second, func() bool { return h.deployed("2.0.0") })
	rows := h.history()
	hot, full := rows[1], rows[0]
	if hot.Kind != string(app.HotUpgrade) || hot.Result != "failed" || !strings.Contains(hot.Error, "install_release") ||
		!strings.Contains(hot.Error, "fell back to a full deployment") {
		t.Fatalf("first row %+v, want the failed hot_upgrade", hot)
	}
	if full.Kind != string(app.FullDeployment) || full.Result != "ok" || full.Version != "2.0.0" {
		t.Fatalf("last row %+v, want an ok full_deployment of 2.0.0", full)
	}
	if h.ghosted("2.0.0") || h.pids()[0] == pid || h.codeVersions()[0] != "2.0.0" {
		t.Fatalf("want 2.0.0 running in a new VM, not ghosted: ghosted %t, pid %s (was %s), code %v",
			h.ghosted("2.0.0"), h.pids()[0], pid, h.codeVersions())
	}
	if c, p := h.folderVersion(1, "current"), h.folderVersion(1, "previous"); c != "2.0.0" || p != "1.0.0" {
		t.Fatalf("folders: current/ %s, previous/ %s; want 2.0.0 and 1.0.0", c, p)
	}
	// previous/ is the release as it was before the attempt, not what the
	// failed install left in it.
	if _, err := os.Stat(filepath.Join(h.cfg.ServiceDir(h.name, 1), "previous", "releases", "2.0.0")); !os.IsNotExist(err) {
		t.Fatalf("previous/ holds the failed attempt's releases/2.0.0: %v", err)
	}
}
