// Package otp benchmarks deployex's distribution node against a real OTP 25
// node on the host:
//
//	go test ./bench/otp -bench . -benchtime 2000x
//
// BenchmarkCall reports the round-trip percentiles of a trivial call
// (erlang:node/0 through rex and erl_eval) with 1 and 16 callers;
// BenchmarkConnectAfterBoot the time from a node's boot to a live connection.
package otp

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"deployex/app/otp"
	"deployex/app/otp/otptest"
)

func start(b *testing.B) (*otp.Node, int, string) {
	b.Helper()
	port := otptest.EPMD(b)
	cookie := "bench" + strconv.FormatUint(rand.Uint64(), 36)
	n, err := otp.Start(context.Background(), otp.Options{Cookie: cookie, EPMDPort: port})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(n.Stop)
	return n, port, cookie
}

func BenchmarkCall(b *testing.B) {
	n, port, cookie := start(b)
	peer := otptest.Start(b, otptest.Spec{Kind: otptest.OTP25, Name: "bench", Cookie: cookie, EPMDPort: port}).FullName()
	ctx := context.Background()
	if err := n.Probe(ctx, peer); err != nil {
		b.Fatal(err)
	}
	for _, callers := range []int{1, 16} {
		b.Run(strconv.Itoa(callers)+"callers", func(b *testing.B) {
			var mu sync.Mutex
			var lat []time.Duration
			var wg sync.WaitGroup
			per := max(b.N/callers, 1)
			b.ResetTimer()
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					mine := make([]time.Duration, 0, per)
					for range per {
						t0 := time.Now()
						if _, err := n.Call(ctx, peer, "erlang", "node"); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(t0))
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				}()
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) }
			b.ReportMetric(pct(0.50), "p50-µs")
			b.ReportMetric(pct(0.99), "p99-µs")
		})
	}
}

func BenchmarkConnectAfterBoot(b *testing.B) {
	n, port, cookie := start(b)
	ctx := context.Background()
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		beam := otptest.Start(b, otptest.Spec{Kind: otptest.OTP25, Name: "boot" + strconv.Itoa(i), Cookie: cookie, EPMDPort: port})
		if err := n.Connect(ctx, beam.FullName()); err != nil {
			b.Fatal(err)
		}
		total += time.Since(beam.Started())
		beam.Kill()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs-after-ready")
}
