// Command startup measures deployex's cold start (exec to the first 200 on
// /health) and its idle RSS, using the real binary on temp folders.
//
//	go run ./bench/startup [-runs 10]
package main

import (
	"deployex/bench/internal/benchkit"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

func main() {
	runs := flag.Int("runs", 10, "cold starts to measure")
	flag.Parse()
	dir, err := os.MkdirTemp("", "deployex-bench-")
	check(err)
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "deployex")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	check(build.Run())

	var starts []time.Duration
	var rss []string
	for i := 0; i < *runs; i++ {
		d, r := once(bin, filepath.Join(dir, strconv.Itoa(i)), i == 0)
		starts = append(starts, d)
		rss = append(rss, r...)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	fmt.Printf("cold start to first /health 200: p50 %v  min %v  max %v  (%d runs; target < 150ms)\n",
		starts[len(starts)/2].Round(time.Millisecond/10), starts[0].Round(time.Millisecond/10),
		starts[len(starts)-1].Round(time.Millisecond/10), len(starts))
	for _, r := range rss {
		fmt.Println(r)
	}
}

// once starts deployex as a new process on fresh folders, so every run also
// creates and migrates its database, and returns the time to a healthy
// answer and, when asked, the idle RSS a few times.
func once(bin, dir string, measureRSS bool) (time.Duration, []string) {
	port := freePort()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"DEPLOYEX_DATA_DIR="+filepath.Join(dir, "data"), "DEPLOYEX_LOG_DIR="+filepath.Join(dir, "log"),
		"DEPLOYEX_RELEASE_BUCKET="+filepath.Join(dir, "bucket"), "DEPLOYEX_PHX_PORT="+strconv.Itoa(port))
	start := time.Now()
	check(cmd.Start())
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	url := fmt.Sprintf("http://127.0.0.1:%d/health", port)
	client := &http.Client{Timeout: time.Second}
	for {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > 10*time.Second {
			panic("no /health within 10 s")
		}
		time.Sleep(500 * time.Microsecond)
	}
	d := time.Since(start)
	if !measureRSS {
		return d, nil
	}
	var out []string
	for _, after := range []time.Duration{3 * time.Second, 10 * time.Second, 30 * time.Second} {
		time.Sleep(after - time.Since(start))
		out = append(out, fmt.Sprintf("idle, %2.0f s after start: %s (target < 25 MiB; start-up pages go at 5 s)", after.Seconds(), benchkit.ReadResident(cmd.Process.Pid)))
	}
	return d, out
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}
