package web_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"deployex/app/internal/testapp"
)

// BenchmarkDashboardGET is a logged-in GET / over real HTTP with 3 apps × 10
// replicas: session load and save in SQLite, database reads, templ render.
func BenchmarkDashboardGET(b *testing.B) {
	var y strings.Builder
	y.WriteString("applications:\n")
	for i := 0; i < 3; i++ {
		fmt.Fprintf(&y, "  - {name: app%d, language: elixir, replicas: 10, initial_port: %d}\n", i, 4000+100*i)
	}
	path := filepath.Join(b.TempDir(), "deployex.yaml")
	if err := os.WriteFile(path, []byte(y.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	a := testapp.Start(b, map[string]string{"DEPLOYEX_CONFIG_YAML_PATH": path})
	c := a.Client(b)
	c.MustLogin("admin", adminPass)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if r := c.Get("/"); r.Status != 200 {
			b.Fatalf("status %d", r.Status)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
