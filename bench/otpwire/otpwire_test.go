// Package otpwire measures deployex's OTP node the way the running program
// uses it (package nodes): how long after a replica's VM is up deployex sees
// it connected, and the round trip of the probe behind "stable" and the
// health check.
//
//	go test ./bench/otpwire -bench . -benchtime 20x
//
// BenchmarkConnectAfterBoot restarts a watched node (kill -9, start again,
// as the supervisor does after a crash) and reports the time from the VM's
// distribution being up to the bus event that marks it connected, for OTP 25
// and OTP 27 (chroot): at once, and after 2 s down (the supervisor's first
// backoff and a boot), when deployex's reconnect attempts have slowed to one
// a second. BenchmarkProbe reports the probe's p50/p99.
package otpwire

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"deployex/app"
	"deployex/app/config"
	"deployex/app/events"
	"deployex/app/nodes"
	"deployex/app/otp"
	"deployex/app/otp/otptest"
	"deployex/app/supervisor"
)

// replicas stands in for the supervisor: one app, "bench", with one replica.
type replicas struct {
	host  string
	probe chan supervisor.Prober
}

func (r *replicas) Node(appName string, n int) string {
	return app.NodeShortName(appName, n) + "@" + r.host
}

func (r *replicas) SetProber(p supervisor.Prober) { r.probe <- p }

// bench is the nodes service watching replica bench-1.
type bench struct {
	port   int    // of the private epmd
	cookie string // the replica's
	node   string // bench-1@host
	bus    *events.Bus
	probe  supervisor.Prober // what the service gave the supervisor
}

// setup starts the nodes service on a private epmd.
func setup(b *testing.B) bench {
	b.Helper()
	port := otptest.EPMD(b)
	// The service reads ERL_EPMD_PORT as the replicas do.
	b.Setenv("ERL_EPMD_PORT", strconv.Itoa(port))
	cookie := "bench" + strconv.FormatUint(rand.Uint64(), 36)
	cfg, err := config.Load(func(k string) (string, bool) {
		v, ok := map[string]string{"DEPLOYEX_MONITORED_APP_NAME": "bench", "DEPLOYEX_MONITORED_REPLICAS": "1",
			"DEPLOYEX_ERLANG_COOKIE": cookie, "DEPLOYEX_DATA_DIR": b.TempDir()}[k]
		return v, ok
	})
	if err != nil {
		b.Fatal(err)
	}
	host, err := otp.ShortHostname()
	if err != nil {
		b.Fatal(err)
	}
	reps := &replicas{host: host, probe: make(chan supervisor.Prober, 1)}
	w := bench{port: port, cookie: cookie, node: reps.Node("bench", 1), bus: events.NewBus()}
	svc := nodes.New(cfg, w.bus, reps, slog.New(slog.NewTextHandler(io.Discard, nil)))
	svc.Start(context.Background())
	b.Cleanup(svc.Stop)
	select {
	case w.probe = <-reps.probe:
	case <-time.After(10 * time.Second):
		b.Fatal("the node did not start")
	}
	return w
}

func (w bench) replica(b *testing.B, kind otptest.Kind) *otptest.BEAM {
	return otptest.Start(b, otptest.Spec{Kind: kind, Name: "bench-1", Cookie: w.cookie, EPMDPort: w.port})
}

func BenchmarkConnectAfterBoot(b *testing.B) {
	for _, c := range []struct {
		kind otptest.Kind
		down time.Duration
	}{{otptest.OTP25, 0}, {otptest.OTP27, 0}, {otptest.OTP25, 2 * time.Second}} {
		b.Run(c.kind.String()+"/down-"+c.down.String(), func(b *testing.B) {
			w := setup(b)
			sub := w.bus.Subscribe(64, func(e events.Event) bool { return e.Kind == events.NodeChanged })
			defer sub.Close()
			var lat []time.Duration
			var beam *otptest.BEAM
			for b.Loop() {
				if beam == nil {
					beam = w.replica(b, c.kind)
				} else {
					beam.Kill()
					waitEvent(b, sub, "otp disconnected")
					time.Sleep(c.down)
					beam.Restart()
				}
				at := waitEvent(b, sub, "otp connected")
				lat = append(lat, at.Sub(beam.Started()))
			}
			report(b, lat, "ms-after-boot")
		})
	}
}

func BenchmarkProbe(b *testing.B) {
	w := setup(b)
	sub := w.bus.Subscribe(64, nil)
	defer sub.Close()
	w.replica(b, otptest.OTP25)
	waitEvent(b, sub, "otp connected")
	ctx := context.Background()
	var lat []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := w.probe(ctx, w.node); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	report(b, lat, "µs")
}

// waitEvent returns when the event with msg arrived (its At: the node's own
// timestamp of the change).
func waitEvent(b *testing.B, sub *events.Sub[events.Event], msg string) time.Time {
	b.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-sub.C:
			if e.Message == msg {
				return e.At
			}
		case <-timeout:
			b.Fatalf("no %q event within 10 s", msg)
		}
	}
}

// report adds the p50 and p99 of lat, in milliseconds or microseconds.
func report(b *testing.B, lat []time.Duration, unit string) {
	slices.Sort(lat)
	scale := float64(time.Millisecond)
	if unit == "µs" {
		scale = float64(time.Microsecond)
	}
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)]) / scale }
	b.ReportMetric(pct(0.50), "p50-"+unit)
	b.ReportMetric(pct(0.99), "p99-"+unit)
}
