package deployer

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"deployex/app"
	"deployex/app/internal/fixture"
)

// TestRollingDeployRollbackAndManualMode is the life of an Erlang app: a
// first deployment, a rolling upgrade with a migration, a version that
// crashes at boot, a version that never settles, and an operator pinning a
// version and letting go again.
func TestRollingDeployRollbackAndManualMode(t *testing.T) {
	t.Parallel()
	// A ready period well above boot time: under load a crash-at-boot VM can
	// take over a second to die, and must not count as stable first.
	h := newHarness(t, app.Erlang, 2, map[string]string{"DEPLOYEX_DEPLOY_MAX_CRASHES": "3", "DEPLOYEX_APP_READY_MS": "2500"})
	h.publish("1.0.0", variant(fixture.Normal))
	h.start(nil)
	h.waitFor("1.0.0 on every replica", 60*time.Second, func() bool { return h.deployed("1.0.0") })

	// v1 → v2 with a pre_command whose effect we check.
	marker := filepath.Join(t.TempDir(), "migrated")
	h.publish("2.0.0", variant(fixture.Normal), `eval ok = file:write_file("`+marker+`", <<"v2">>)`)
	h.waitFor("2.0.0 on every replica", 60*time.Second, func() bool { return h.deployed("2.0.0") })
	if b, err := os.ReadFile(marker); err != nil || string(b) != "v2" {
		t.Fatalf("the pre_command did not run: %q %v", b, err)
	}
	var v2 []int64
	for _, d := range h.history() {
		if d.Version == "2.0.0" {
			if d.Result != "ok" || d.Kind != "full_deployment" || d.Trigger != "poll" || d.Hash != "h-2.0.0" {
				t.Fatalf("history row %+v", d)
			}
			v2 = append(v2, d.Instance)
		}
	}
	if len(v2) != 2 {
		t.Fatalf("v2 history: %v", v2)
	}
	rows := h.history() // newest first: replica 2's row, then replica 1's
	if !rows[1].FinishedAt.Valid || rows[0].StartedAt.Before(rows[1].FinishedAt.Time.Add(-time.Second)) {
		t.Fatalf("replica 2 must start only after replica 1 is stable: %+v / %+v", rows[1], rows[0])
	}

	// v3 crashes at boot: ghosted by the crash limit well before the 60 s window.
	start := time.Now()
	h.publish("3.0.0", variant(fixture.CrashAtBoot))
	h.waitFor("3.0.0 ghosted", 40*time.Second, func() bool { return h.ghosted("3.0.0") })
	h.waitFor("2.0.0 back everywhere", 30*time.Second, func() bool { return h.deployed("2.0.0") })
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("the crash limit should act long before the window; took %s", took)
	}
	var rolledBack, rollback bool
	for _, d := range h.history() {
		rolledBack = rolledBack || (d.Version == "3.0.0" && d.Result == "rolled_back")
		rollback = rollback || (d.Kind == "rollback" && d.Version == "2.0.0" && d.Result == "ok")
	}
	if !rolledBack || !rollback {
		t.Fatalf("history must show the rolled back attempt and the rollback: %+v", h.history())
	}
	rows = h.history()
	time.Sleep(1 * time.Second) // five polls: a ghosted version is never retried
	if len(h.history()) != len(rows) {
		t.Fatalf("a ghosted version must not be deployed again: %+v", h.history()[0])
	}
	for _, d := range rows {
		if d.Version == "3.0.0" && d.Instance == 2 {
			t.Fatal("replica 2 must never have moved to 3.0.0")
		}
	}

	// Manual mode pins v1, then v2 again while the bucket still names the
	// ghosted v3: v2's pre_command comes from its history. Automatic then
	// follows the bucket, set back to v2 (without pre_commands) first.
	if err := h.dep.SetMode(context.Background(), h.name, app.ModeManual, "3.0.0", "alice"); err == nil {
		t.Fatal("pinning a ghosted version must be refused")
	}
	if err := h.dep.SetMode(context.Background(), h.name, app.ModeManual, "9.9.9", "alice"); err == nil {
		t.Fatal("pinning a version absent from the bucket must be refused")
	}
	if err := h.dep.SetMode(context.Background(), h.name, app.ModeManual, "1.0.0", "alice"); err != nil {
		t.Fatal(err)
	}
	h.waitFor("manual 1.0.0", 60*time.Second, func() bool { return h.deployed("1.0.0") })
	if d := h.history()[0]; d.Kind != "manual" || d.Trigger != "user" || d.Version != "1.0.0" {
		t.Fatalf("manual deployment row: %+v", d)
	}
	time.Sleep(500 * time.Millisecond)
	if !h.answering("1.0.0") {
		t.Fatal("manual mode must hold the pinned version against the bucket")
	}
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	if err := h.dep.SetMode(context.Background(), h.name, app.ModeManual, "2.0.0", "alice"); err != nil {
		t.Fatal(err)
	}
	h.waitFor("manual 2.0.0", 60*time.Second, func() bool { return h.deployed("2.0.0") })
	if b, err := os.ReadFile(marker); err != nil || string(b) != "v2" {
		t.Fatalf("the pinned version's pre_command from its history did not run: %q %v", b, err)
	}
	if d := h.history()[0]; d.Kind != "manual" || d.Version != "2.0.0" || d.Hash != "h-2.0.0" {
		t.Fatalf("manual deployment row of 2.0.0: %+v", d)
	}
	h.publish("2.0.0", nil)
	if err := h.dep.SetMode(context.Background(), h.name, app.ModeAutomatic, "", "alice"); err != nil {
		t.Fatal(err)
	}
	h.waitFor("back to the bucket's 2.0.0", 60*time.Second, func() bool { return h.deployed("2.0.0") })
	if h.audits("set_mode_manual") != 4 || h.audits("set_mode_automatic") != 1 {
		t.Fatalf("mode changes must be audited: %d manual, %d automatic", h.audits("set_mode_manual"), h.audits("set_mode_automatic"))
	}
	if err := h.dep.ClearGhost(context.Background(), h.name, "3.0.0", "alice"); err != nil || h.ghosted("3.0.0") {
		t.Fatalf("clear ghost: %v", err)
	}
}
