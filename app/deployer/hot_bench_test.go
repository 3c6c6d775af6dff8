package deployer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"deployex/app"
	"deployex/app/events"
	"deployex/app/internal/fixture"
	"deployex/app/otp"
	"deployex/app/otp/term"
)

// BenchmarkHotUpgrade measures one replica's hot upgrade from 1.0.0 to 2.0.0
// (bench/hotupgrade/run.sh runs it):
//
//   - release_handler: the bare sequence by hand, over deployex's OTP node:
//     copy the tarball into releases/2.0.0/, (Elixir: create_RELEASES),
//     unpack_release, check_install_release, install_release, make_permanent;
//
//   - deployex: the deployer's whole hot path, from the start of the
//     rollout (download from the local bucket) to the history row closed:
//     unpack to new/, the appup/relup checks, a probe, the snapshot of
//     current/, the same release_handler steps, the folder bookkeeping.
//
//   - deployex-making-relup: the same with a release that ships no relup.
//
// Every iteration starts from a fresh replica running 1.0.0; only the upgrade
// is measured, reported as ms/upgrade (ns/op counts the setup too).
func BenchmarkHotUpgrade(b *testing.B) {
	for _, lang := range []app.Language{app.Erlang, app.Elixir} {
		b.Run(string(lang)+"/release_handler", func(b *testing.B) {
			var total time.Duration
			for range b.N {
				h, node := benchHarness(b, lang, false)
				total += bareUpgrade(b, h, node)
				h.stop()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/upgrade")
		})
		// The release as built, and without its relup: the node makes one.
		for _, variant := range []string{"deployex", "deployex-making-relup"} {
			b.Run(string(lang)+"/"+variant, func(b *testing.B) {
				sum := map[string]time.Duration{}
				for range b.N {
					h, _ := benchHarness(b, lang, true)
					if variant == "deployex-making-relup" {
						stripRelup(b, h)
					}
					for part, d := range deployexUpgrade(b, h) {
						sum[part] += d
					}
					h.stop()
				}
				for part, d := range sum {
					b.ReportMetric(float64(d.Microseconds())/1000/float64(b.N), part)
				}
			})
		}
	}
}

// benchHarness runs one replica of lang on 1.0.0 with deployex's OTP node,
// given to the deployer when hot is set.
func benchHarness(b *testing.B, lang app.Language, hot bool) (*harness, *otp.Node) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	h := newHarness(b, lang, 1, nil)
	node := h.otpNode()
	var opts []Option
	if hot {
		opts = append(opts, WithUpgrader(node))
	}
	h.publish("1.0.0", variant(fixture.Normal))
	h.start(nil, opts...)
	h.waitFor("1.0.0", 60*time.Second, func() bool { return h.deployed("1.0.0") })
	h.putTarball("2.0.0", fixture.Release(b, lang, "2.0.0", fixture.HotUpgradeFrom("1.0.0")))
	return h, node
}

// stripRelup replaces the 2.0.0 tarball in the bucket by one without its relup.
func stripRelup(b *testing.B, h *harness) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	tarball := filepath.Join(h.bucket, "dist", h.name, h.name+"-2.0.0.tar.gz")
	h.putTarball("2.0.0", withoutEntry(b, tarball, "releases/2.0.0/relup"))
}

func bareUpgrade(b *testing.B, h *harness, node *otp.Node) time.Duration {
	b.Helper()
	ctx := context.Background()
	root := filepath.Join(h.cfg.ServiceDir(h.name, 1), "current")
	peer := h.sup.Instances(h.name)[0].Node
	tarball := filepath.Join(h.bucket, "dist", h.name, h.name+"-2.0.0.tar.gz")
	rh := func(fun string, args ...any) {
		v, err := node.Call(ctx, peer, "release_handler", fun, args...)
		if err != nil {
			b.Fatalf("%s: %v", fun, err)
		}
		if t, ok := v.(term.Tuple); ok && len(t) > 0 && t[0] == term.Atom("error") {
			b.Fatalf("%s: %s", fun, term.Format(v))
		}
	}
	start := time.Now()
	data, err := os.ReadFile(tarball)
	if err == nil {
		err = os.MkdirAll(filepath.Join(root, "releases", "2.0.0"), 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(root, "releases", "2.0.0", h.name+".tar.gz"), data, 0o644)
	}
	if err != nil {
		b.Fatal(err)
	}
	if h.lang == app.Elixir {
		rh("create_RELEASES", term.Charlist(root), term.Charlist(root+"/releases"),
			term.Charlist(root+"/releases/1.0.0/"+h.name+".rel"), []any{})
	}
	rh("unpack_release", term.Charlist("2.0.0/"+h.name))
	rh("check_install_release", term.Charlist("2.0.0"))
	rh("install_release", term.Charlist("2.0.0"))
	rh("make_permanent", term.Charlist("2.0.0"))
	took := time.Since(start)
	if v, _ := fixture.Call(h.port, "code_version"); v != "2.0.0" {
		b.Fatalf("after the bare upgrade the code answers %q", v)
	}
	return took
}

// phases split the deployer's hot path at its activity events: each phase
// ends where the next begins, and ms/upgrade spans them all.
var phases = []struct{ name, from, to string }{
	{"ms-download", "downloading", "unpacking"},
	{"ms-unpack+checks", "unpacking", "saving the running release"},
	{"ms-snapshot+copy", "saving the running release", "copy done"},
	{"ms-release_handler", "copy done", "make_permanent done"},
	{"ms-bookkeeping", "make_permanent done", "deployment ok"},
	{"ms/upgrade", "downloading", "deployment ok"},
}

// deployexUpgrade publishes 2.0.0 and times the rollout's phases from the
// deployer's own events.
func deployexUpgrade(b *testing.B, h *harness) map[string]time.Duration {
	b.Helper()
	sub := h.dep.bus.Subscribe(1000, func(e events.Event) bool { return e.App == h.name && e.Instance == 0 })
	defer sub.Close()
	h.publish("2.0.0", nil)
	at := map[string]time.Time{}
	deadline := time.After(60 * time.Second)
	for at["deployment ok"].IsZero() {
		select {
		case e := <-sub.C:
			if strings.Contains(e.Message, "deployment failed") {
				b.Fatalf("the hot upgrade failed: %+v", h.history()[0])
			}
			for _, p := range phases {
				if strings.Contains(e.Message, p.from) && at[p.from].IsZero() {
					at[p.from] = e.At
				}
			}
			if strings.Contains(e.Message, "deployment ok") {
				at["deployment ok"] = e.At
			}
		case <-deadline:
			b.Fatal("no hot upgrade within 60s")
		}
	}
	if d := h.history()[0]; d.Kind != string(app.HotUpgrade) {
		b.Fatalf("history row %+v, want a hot_upgrade", d)
	}
	out := map[string]time.Duration{}
	for _, p := range phases {
		if at[p.from].IsZero() {
			b.Fatalf("no %q event", p.from)
		}
		out[p.name] = at[p.to].Sub(at[p.from])
	}
	return out
}
