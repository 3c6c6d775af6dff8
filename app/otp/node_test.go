package otp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"deployex/app/otp/otptest"
	"deployex/app/otp/term"
)

// events collects connection events for assertions.
type events struct {
	mu  sync.Mutex
	all []Event
	ch  chan Event
}

func newEvents() *events { return &events{ch: make(chan Event, 100)} }

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	e.ch <- ev
}

// wait returns the next event for node with the given state.
func (e *events) wait(t *testing.T, node string, connected bool, within time.Duration) Event {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case ev := <-e.ch:
			if ev.Node == node && ev.Connected == connected {
				return ev
			}
		case <-timeout:
			t.Fatalf("no connected=%v event for %s within %v", connected, node, within)
		}
	}
}

// fixture is deployex's node on a private epmd with a cookie of its own, so
// parallel tests cannot reach each other's nodes even when ports are reused.
type fixture struct {
	t      *testing.T
	n      *Node
	ev     *events
	port   int
	cookie string
}

func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	f := &fixture{t: t, ev: newEvents(), port: otptest.EPMD(t), cookie: "c" + strconv.FormatUint(rand.Uint64(), 36)}
	o := Options{Cookie: f.cookie, EPMDPort: f.port, OnEvent: f.ev.add}
	if mod != nil {
		mod(&o)
	}
	var err error
	if f.n, err = Start(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.n.Stop)
	return f
}

// beam starts a node that shares the fixture's epmd and cookie.
func (f *fixture) beam(kind otptest.Kind, name string, erlArgs ...string) *otptest.BEAM {
	f.t.Helper()
	return otptest.Start(f.t, otptest.Spec{Kind: kind, Name: name, Cookie: f.cookie, EPMDPort: f.port, ErlArgs: erlArgs})
}

var kinds = []otptest.Kind{otptest.OTP25, otptest.OTP27, otptest.Elixir27}

// TestLifecycle runs the connectivity story on every supported runtime:
// connect, call, survive hostile answers, notice kill -9 at once, reconnect
// after a restart, notice a frozen VM through the probe.
func TestLifecycle(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.String(), func(t *testing.T) {
			f := newFixture(t, nil)
			n, ev := f.n, f.ev
			beam := f.beam(kind, "life")
			peer := beam.FullName()
			ctx := context.Background()

			n.Watch(peer)
			up := ev.wait(t, peer, true, 2*time.Second)
			t.Logf("connected %v after the node was up", up.At.Sub(beam.Started()))

			if err := n.Probe(ctx, peer); err != nil {
				t.Fatalf("probe: %v", err)
			}
			checkPid := func() {
				v, err := n.Eval(ctx, peer, "os:getpid().")
				if s, _ := term.Text(v); err != nil || s != strconv.Itoa(beam.OSPid()) {
					t.Fatalf("os pid %v (%v), want %d", v, err, beam.OSPid())
				}
			}
			checkPid()
			checkInfo(t, n, peer, kind, beam.OSPid())
			got, err := n.Call(ctx, peer, "lists", "reverse", []any{int64(1), "two", term.Atom("three")})
			if err != nil || !term.Equal(got, []any{term.Atom("three"), "two", int64(1)}) {
				t.Fatalf("lists:reverse = %#v, %v", got, err)
			}

			// Answers ergo could not decode: a map with binary and tuple
			// keys holding a fun, an improper list.
			got, err = n.Eval(ctx, peer, `#{<<"k">> => fun() -> ok end, {t, 1} => [1 | 2]}.`)
			if err != nil {
				t.Fatalf("eval hostile map: %v", err)
			}
			m := got.(term.Map)
			if f, ok := m.Get("k"); !ok || f.(term.Fun).Arity != 0 {
				t.Errorf("binary key with fun: %#v", got)
			}
			if l, ok := m.Get(term.Tuple{term.Atom("t"), int64(1)}); !ok || !term.Equal(l, term.ImproperList{Elems: []any{int64(1)}, Tail: int64(2)}) {
				t.Errorf("tuple key with improper list: %#v", got)
			}
			if kind == otptest.Elixir27 {
				got, err = n.Eval(ctx, peer, `'Elixir.Map':put(#{}, <<"elixir">>, fun 'Elixir.String':upcase/1).`)
				if err != nil {
					t.Fatalf("eval Elixir map: %v", err)
				}
				if f, _ := got.(term.Map).Get("elixir"); f != (term.Fun{Module: "Elixir.String", Name: "upcase", Arity: 1}) {
					t.Errorf("Elixir map: %#v", got)
				}
			}
			var re *RemoteError
			if _, err := n.Call(ctx, peer, "erlang", "error", term.Tuple{term.Atom("boom"), "x"}); !errors.As(err, &re) || re.Class != "error" {
				t.Errorf("remote exception: %v", err)
			}
			if _, err := n.Eval(ctx, peer, `1 +.`); err == nil || !strings.Contains(err.Error(), "syntax error") {
				t.Errorf("eval syntax error: %v", err)
			}
			if err := n.Probe(ctx, peer); err != nil || !n.Connected(peer) {
				t.Fatalf("connection lost after hostile answers: %v", err)
			}

			killed := time.Now()
			beam.Kill()
			down := ev.wait(t, peer, false, time.Second)
			if d := down.At.Sub(killed); d > 100*time.Millisecond {
				t.Errorf("nodedown %v after kill -9, want < 100ms", d)
			} else {
				t.Logf("nodedown %v after kill -9", d)
			}
			if err := n.Probe(ctx, peer); err == nil {
				t.Error("probe of a dead node succeeded")
			}

			beam.Restart()
			up = ev.wait(t, peer, true, 3*time.Second)
			t.Logf("reconnected %v after the restarted node was up", up.At.Sub(beam.Started()))
			if err := n.Probe(ctx, peer); err != nil {
				t.Fatalf("probe after restart: %v", err)
			}
			checkPid()

			beam.Freeze()
			start := time.Now()
			err = n.Probe(ctx, peer)
			if err == nil || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("probe of a frozen node: %v", err)
			}
			t.Logf("frozen node detected by the probe after %v", time.Since(start))
			beam.Thaw()
			if err := n.Probe(ctx, peer); err != nil {
				t.Errorf("probe after thaw: %v", err)
			}
		})
	}
}

// TestConcurrentCalls checks that many callers share the courier and that
// large messages cross the packet filter intact both ways.
func TestConcurrentCalls(t *testing.T) {
	f := newFixture(t, nil)
	n := f.n
	peer := f.beam(otptest.OTP25, "conc").FullName()
	ctx := context.Background()

	big := strings.Repeat("x", 3<<20)
	got, err := n.Call(ctx, peer, "erlang", "byte_size", big)
	if err != nil || got != int64(len(big)) {
		t.Fatalf("byte_size of 3 MiB = %v, %v", got, err)
	}
	got, err = n.Call(ctx, peer, "binary", "copy", "y", 3<<20)
	if s, _ := got.(string); err != nil || len(s) != 3<<20 {
		t.Fatalf("3 MiB answer: %d bytes, %v", len(s), err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				got, err := n.Call(ctx, peer, "erlang", "abs", -(w*1000 + i))
				if err != nil || got != int64(w*1000+i) {
					errs <- fmt.Errorf("worker %d call %d: %v, %v", w, i, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func checkInfo(t *testing.T, n *Node, peer string, kind otptest.Kind, osPid int) {
	t.Helper()
	start := time.Now()
	info, err := n.Info(context.Background(), peer)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	t.Logf("info in %v: OTP %s, ERTS %s, Elixir %q, %d processes, %d MiB, %d apps",
		time.Since(start), info.OTPRelease, info.ERTSVersion, info.ElixirVersion,
		info.ProcessCount, info.Memory.Total>>20, len(info.Applications))
	wantOTP := map[otptest.Kind]string{otptest.OTP25: "25", otptest.OTP27: "27", otptest.Elixir27: "27"}[kind]
	if info.Node != peer || info.OTPRelease != wantOTP || info.OSPid != int64(osPid) || info.ERTSVersion == "" {
		t.Errorf("identity: %+v", info)
	}
	if (kind == otptest.Elixir27) != (info.ElixirVersion != "") {
		t.Errorf("Elixir version %q on %s", info.ElixirVersion, kind)
	}
	if info.Applications["kernel"] == "" || info.Applications["stdlib"] == "" {
		t.Errorf("applications: %v", info.Applications)
	}
	m := info.Memory
	if m.Total <= 0 || m.Processes <= 0 || m.Binary <= 0 || m.ETS <= 0 || m.Atom <= 0 || m.Total < m.Processes {
		t.Errorf("memory: %+v", m)
	}
	if info.ProcessCount <= 0 || info.ProcessLimit < info.ProcessCount || info.PortLimit < info.PortCount ||
		info.AtomCount <= 0 || info.AtomLimit < info.AtomCount || info.Uptime <= 0 {
		t.Errorf("counts: %+v", info)
	}
}
