package deployer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"deployex/app"
	"deployex/app/internal/fixture"
)

// TestNeverStableIsRolledBackAtTheWindow: a version that keeps running just
// short of the ready period is rolled back when the rollback window ends.
func TestNeverStableIsRolledBackAtTheWindow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.Elixir, 1, map[string]string{
		"DEPLOYEX_APP_READY_MS":               "5000",
		"DEPLOYEX_DEPLOY_MAX_CRASHES":         "1000",
		"DEPLOYEX_DEPLOY_TIMEOUT_ROLLBACK_MS": "10000",
	})
	h.publish("1.0.0", variant(fixture.Normal))
	h.start(nil)
	h.waitFor("1.0.0", 60*time.Second, func() bool { return h.deployed("1.0.0") })
	start := time.Now()
	h.publish("4.0.0", variant(fixture.NeverStable(time.Second)))
	h.waitFor("4.0.0 ghosted", 40*time.Second, func() bool { return h.ghosted("4.0.0") })
	if took := time.Since(start); took < 10*time.Second {
		t.Fatalf("rolled back after %s, before the 10 s window", took)
	}
	h.waitFor("1.0.0 back", 30*time.Second, func() bool { return h.deployed("1.0.0") })
	if p := h.dep.Status(h.name).Problem; !strings.Contains(p, "not stable within 10s") {
		t.Fatalf("the dashboard must say why: %q", p)
	}
}

// TestBadInputChangesNothing: a malformed current.json, a version with shell
// characters, a failing pre_command and hostile tarballs leave the running
// version running and are reported once.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.Gleam, 1, nil)
	h.publish("1.0.0", variant(fixture.Normal))
	h.start(nil)
	h.waitFor("1.0.0", 60*time.Second, func() bool { return h.deployed("1.0.0") })
	pid := h.sup.Instances(h.name)[0].OSPid
	unchanged := func(what string) {
		t.Helper()
		time.Sleep(1500 * time.Millisecond) // several polls
		in := h.sup.Instances(h.name)[0]
		if in.OSPid != pid || in.Version != "1.0.0" || !h.deployed("1.0.0") {
			t.Fatalf("%s changed the running replica: %+v", what, in)
		}
	}

	h.putCurrent([]byte(`{"version": "2.0.0", "hash": `))
	unchanged("a truncated current.json")
	h.putCurrent([]byte(`{"version": "1.0;touch /tmp/pwned", "hash": "x"}`))
	unchanged("a version with shell characters")
	if n := h.audits("read_current"); n != 2 {
		t.Fatalf("each malformed content must be reported once, got %d reports", n)
	}
	if p := h.dep.Status(h.name).Problem; !strings.Contains(p, "version") {
		t.Fatalf("the dashboard must show the problem: %q", p)
	}

	// A tarball escaping its folder is refused, writes nothing outside new/,
	// and is not downloaded again until it changes.
	outside := filepath.Join(filepath.Dir(h.cfg.ServiceDir(h.name, 1)), "escaped")
	h.write(filepath.Join("dist", h.name, h.name+"-6.6.6.tar.gz"), hostileTarball(t, "../../escaped"))
	h.publish("6.6.6", nil)
	unchanged("a tarball with ../")
	if _, err := os.Stat(outside); err == nil {
		t.Fatal("the hostile tarball wrote outside new/")
	}
	if n := h.audits("refuse_release"); n != 1 {
		t.Fatalf("a refused tarball must be reported once, got %d", n)
	}
	if _, err := os.Stat(filepath.Join(h.cfg.ServiceDir(h.name, 1), "new")); err == nil {
		t.Fatal("a refused release must not leave new/ behind")
	}

	// A failing pre_command fails the attempt with its exit code, ghosts the
	// version and restores the running one.
	h.publish("7.0.0", variant(fixture.Normal), `eval erlang:error(migration_failed)`)
	h.waitFor("7.0.0 ghosted", 30*time.Second, func() bool { return h.ghosted("7.0.0") })
	h.waitFor("1.0.0 back", 30*time.Second, func() bool { return h.deployed("1.0.0") })
	p := h.dep.Status(h.name).Problem
	if !strings.Contains(p, "exit code 1") || !strings.Contains(p, "migration_failed") {
		t.Fatalf("the problem must carry the exit code and stderr: %q", p)
	}
}

// hostileTarball is a gzip tar with one regular file at name.
func hostileTarball(t *testing.T, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	body := []byte("owned\n")
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// TestInterruptedDeploymentIsDoneAgain: deployex stops in the middle of a
// deployment, once while the new version's pre_command runs (after the
// folder swap) and once while the new version waits to prove stable. The
// next deployex neither boots a version without its pre_commands nor keeps
// one that never passed the stability check: it puts the replica back on
// the old version and deploys the new one again.
func TestInterruptedDeploymentIsDoneAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.Erlang, 1, map[string]string{"DEPLOYEX_APP_READY_MS": "4000"})
	h.publish("1.0.0", variant(fixture.Normal))
	h.start(nil)
	h.waitFor("1.0.0 on the replica", 60*time.Second, func() bool { return h.deployed("1.0.0") })
	interrupt := func(activity string) {
		t.Helper()
		h.waitFor(activity, 30*time.Second, func() bool { return strings.Contains(h.dep.Status(h.name).Activity, activity) })
		h.cancel() // deployex goes away; the replicas stay as they are
		<-h.done
	}
	redone := func(version, marker string, undos int) {
		t.Helper()
		// The replica may run the version at once (adopted); the undo comes first.
		h.waitFor("the undo", 30*time.Second, func() bool { return h.audits("undo_interrupted_deployment") == undos })
		h.waitFor(version+" deployed again", 60*time.Second, func() bool {
			b, _ := os.ReadFile(marker)
			return string(b) == version && h.deployed(version)
		})
		rows := h.history() // newest first: the redo, then the interrupted attempt
		if len(rows) < 3 || rows[0].Version != version || rows[0].Result != "ok" ||
			rows[1].Version != version || rows[1].Result != "failed" || !strings.Contains(rows[1].Error, "interrupted") {
			t.Fatalf("history %+v", rows)
		}
	}
	write := func(marker, version string) string {
		return `eval ok = file:write_file("` + marker + `", <<"` + version + `">>)`
	}

	h.publish("2.0.0", variant(fixture.Normal), "eval timer:sleep(60000)")
	interrupt("running pre_commands")
	marker := filepath.Join(t.TempDir(), "migrated")
	h.publish("2.0.0", nil, write(marker, "2.0.0"))
	h.start(nil)
	redone("2.0.0", marker, 1)

	h.publish("3.0.0", variant(fixture.Normal), write(marker, "3.0.0"))
	interrupt("waiting until it is stable")
	os.Remove(marker)
	h.start(nil)
	redone("3.0.0", marker, 2)
}
