package deployer

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"io"
	"os"
	"testing"

	"deployex/app"
	"deployex/app/events"
	"deployex/app/internal/fixture"
	"deployex/app/release"
)

// BenchmarkFullDeploymentOverhead measures what a full deployment costs per
// replica beyond the app's own stop and boot: download from the bucket
// (local folder), safe unpack into new/, and the folder swap, for a 30 MB
// release (the Erlang fixture plus 30 MB of incompressible assets).
// Target: ≤ 300 ms.
func BenchmarkFullDeploymentOverhead(b *testing.B) {
	h := newHarness(b, app.Erlang, 1, nil)
	h.putTarball("3.0.0", paddedRelease(b, fixture.Release(b, app.Erlang, "3.0.0", fixture.Normal), 30<<20))
	src, err := release.NewSource(context.Background(), h.cfg)
	if err != nil {
		b.Fatal(err)
	}
	d := New(h.cfg, h.store, events.NewBus(), src, nil, h.logger())
	w := d.workers[h.name]
	f := folders{h.cfg.ServiceDir(h.name, 1)}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		tarball, err := w.fetch(ctx, "3.0.0")
		if err != nil {
			b.Fatal(err)
		}
		if err := f.clearNew(); err != nil {
			b.Fatal(err)
		}
		if err := release.Unpack(ctx, tarball, f.new(), "", release.LimitsFrom(h.cfg)); err != nil {
			b.Fatal(err)
		}
		if err := f.markNew("3.0.0"); err != nil {
			b.Fatal(err)
		}
		if err := f.promote(); err != nil {
			b.Fatal(err)
		}
		os.Remove(tarball)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/replica")
}

// paddedRelease copies a release tarball and adds size bytes of random data
// under lib/assets/, as a Phoenix release carries static assets.
func paddedRelease(b *testing.B, src string, size int64) string {
	b.Helper()
	return rewriteTarball(b, src, nil, func(tw *tar.Writer) error {
		const chunk = 1 << 20
		for i := int64(0); i < size/chunk; i++ {
			name := "lib/assets/blob-" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".bin"
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: chunk, Typeflag: tar.TypeReg}); err != nil {
				return err
			}
			if _, err := io.CopyN(tw, rand.Reader, chunk); err != nil {
				return err
			}
		}
		return nil
	})
}
