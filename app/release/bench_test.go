package release

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchIdlePolls measures what a poll of an unchanged current.json costs:
// body-B/100polls must stay 0; resp-B/100polls is everything the store
// sent, metadata included (GCS answers the generation check with JSON).
func benchIdlePolls(b *testing.B, fx fixture) {
	ctx := context.Background()
	fx.put(b, "versions/myapp/prod/current.json", []byte(`{"version":"1.0.0","hash":"abc","pre_commands":[]}`))
	first, err := fx.src.ReadCurrent(ctx, "myapp", "")
	if err != nil {
		b.Fatal(err)
	}
	served, sent := fx.served.load(), fx.sent.load()
	polls := 0
	for b.Loop() {
		if _, err := fx.src.ReadCurrent(ctx, "myapp", first.Tag); !errors.Is(err, ErrNotModified) {
			b.Fatalf("got %v, want ErrNotModified", err)
		}
		polls++
	}
	b.ReportMetric(float64(fx.served.load()-served)*100/float64(polls), "body-B/100polls")
	b.ReportMetric(float64(fx.sent.load()-sent)*100/float64(polls), "resp-B/100polls")
}

func BenchmarkIdlePollS3(b *testing.B)  { benchIdlePolls(b, newS3Fixture(b)) }
func BenchmarkIdlePollGCS(b *testing.B) { benchIdlePolls(b, newGCSFixture(b)) }

// BenchmarkUnpack30MB unpacks a release-shaped tarball: 300 files of 100 KB
// in nested folders, half incompressible (like compiled code), half text.
func BenchmarkUnpack30MB(b *testing.B) {
	const files, size = 300, 100 << 10
	rng := rand.New(rand.NewPCG(1, 2))
	entries := []ent{file("bin/app", "#!/bin/sh\n", 0o755)}
	for i := range files {
		body := make([]byte, size)
		if i%2 == 0 {
			for j := range body {
				body[j] = byte(rng.Uint32())
			}
		} else {
			copy(body, strings.Repeat(fmt.Sprintf("line %d of some module source\n", i), size/20))
		}
		entries = append(entries, file(fmt.Sprintf("lib/app_%d-1.0/ebin/mod_%d.beam", i/20, i), string(body), 0o644))
	}
	tarball := writeTemp(b, tarGz(b, entries...))
	parent := b.TempDir()
	lim := Limits{MaxEntries: 1000, MaxBytes: 1 << 30, MaxFileBytes: 1 << 30}
	b.SetBytes(files * size)
	b.ResetTimer()
	for i := range b.N {
		dest := filepath.Join(parent, fmt.Sprint(i))
		if err := Unpack(context.Background(), tarball, dest, "", lim); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dest)
		b.StartTimer()
	}
	if fi, err := os.Stat(tarball); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "tarball-MB")
	}
}
