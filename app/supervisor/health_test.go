package supervisor

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"deployex/app"
	"deployex/app/internal/fixture"
)

// lineProber asks the fixture on the replica's port for its pid, within the
// context's deadline: like the OTP probe, it fails when the VM does not run.
func lineProber(port int) Prober {
	return func(ctx context.Context, node string) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return err
		}
		defer c.Close()
		if dl, ok := ctx.Deadline(); ok {
			c.SetDeadline(dl)
		}
		if _, err := fmt.Fprintf(c, "os_pid\n"); err != nil {
			return err
		}
		_, err = bufio.NewReader(c).ReadString('\n')
		return err
	}
}

// A stable replica whose VM is stopped (SIGSTOP) fails its health probes and
// is killed and restarted within a few intervals, counted as a crash; a
// forced restart of a stopped VM does not wait for the stop timeout.
func TestUnresponsiveReplicaIsRestarted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, app.Gleam, 1, map[string]string{
		"DEPLOYEX_APP_READY_MS":             "300",
		"DEPLOYEX_HEALTH_CHECK_INTERVAL_MS": "200",
		"DEPLOYEX_HEALTH_CHECK_FAILURES":    "3",
		// Long enough that a stop waiting for it would show.
		"DEPLOYEX_STOP_TIMEOUT_MS": "10000",
	})
	h.installAll(fixture.Normal)
	h.run()
	h.sup.SetProber(lineProber(h.port))
	first := h.waitServing(1, 0)
	h.waitFor(10*time.Second, "stable", func() bool { return h.instance(1).Stable })

	frozen := time.Now()
	if err := syscall.Kill(-first.OSPid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	second := h.waitServing(1, first.OSPid)
	took := time.Since(frozen)
	t.Logf("stopped VM replaced after %s", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("a stopped VM took %s to be replaced; 3 probes of 200 ms should take about 0.6 s", took)
	}
	if second.CrashRestarts != 1 || second.ForcedRestarts != 0 {
		t.Errorf("after the kill: crashes %d, forced %d", second.CrashRestarts, second.ForcedRestarts)
	}
	h.nextEvent(1, "backoff: unresponsive", time.Second)

	if err := syscall.Kill(-second.OSPid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := h.sup.Restart(context.Background(), h.name, 1, "test"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("restarting a stopped VM took %s: SIGTERM waited for the stop timeout", d)
	}
	third := h.waitServing(1, second.OSPid)
	if third.ForcedRestarts != 1 || third.CrashRestarts != 1 {
		t.Errorf("after the forced restart: crashes %d, forced %d", third.CrashRestarts, third.ForcedRestarts)
	}
}
