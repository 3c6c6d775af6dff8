// Command dashboard measures the live dashboard against a real deployex
// process supervising real Erlang replicas:
//
//  1. fan-out: N browsers-worth of SSE clients on /events; a replica's VM is
//     killed (kill -9) and the time until each client has the changed card
//     is measured, over several rounds;
//  2. GET / under 50 concurrent clients, with wrk;
//  3. log storm: a writer appends R lines/s to a replica's stdout log while V
//     viewers follow its live page over HTTP and S clients open the same
//     stream and never read; deployex's CPU and RSS are sampled each second.
//
// The storm's writer is a separate process appending to the replica's log
// file, as the replica itself would: deployex only ever sees the file.
// Run it through run.sh, which builds the release and deployex:
//
//	bench/dashboard/run.sh [-clients 200] [-rounds 5] [-viewers 20] [-stalled 5] [-rate 20000] [-duration 10s]
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"deployex/app/hostinfo"
	"deployex/bench/internal/benchkit"
)

const replicas = 3

func main() {
	bin := flag.String("deployex", "", "deployex binary")
	tarball := flag.String("tarball", "", "erlfix release tarball (rebar3 as prod tar)")
	clients := flag.Int("clients", 200, "SSE clients on /events")
	rounds := flag.Int("rounds", 5, "kill -9 rounds measured by every SSE client")
	viewers := flag.Int("viewers", 20, "live log viewers reading over HTTP")
	stalled := flag.Int("stalled", 5, "live log clients that never read")
	rate := flag.Int("rate", 20000, "log lines per second the writer appends")
	duration := flag.Duration("duration", 10*time.Second, "how long the writer writes")
	writeTo := flag.String("write", "", "internal: be the writer child, appending to this file")
	flag.Parse()

	if *writeTo != "" {
		check(benchkit.WriteLogStorm(*writeTo, *rate, *duration))
		return
	}
	if *bin == "" || *tarball == "" {
		fmt.Fprintln(os.Stderr, "usage: dashboard -deployex BIN -tarball erlfix-VSN.tar.gz (run.sh builds both)")
		os.Exit(2)
	}
	d, err := start(*bin, *tarball)
	check(err)
	// Stopped before exiting, failure or not: it would leave replicas behind.
	err = errors.Join(fanOut(d, *clients, *rounds), dashboardGET(d), logStorm(d, *viewers, *stalled, *rate, *duration))
	d.stop()
	check(err)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// deployex is the process under test.
type deployex struct {
	cmd    *exec.Cmd
	url    string
	cookie string // the admin's session, "deployex_session=…"
	port   int    // replica 1's; replica n listens on port+n-1
	logDir string
	stop   func()
}

func start(bin, tarball string) (*deployex, error) {
	tmp, err := os.MkdirTemp("", "dashboard-bench-")
	if err != nil {
		return nil, err
	}
	d := &deployex{port: benchkit.FreePorts(replicas), logDir: filepath.Join(tmp, "log")}
	for n := 1; n <= replicas; n++ {
		if err := benchkit.Unpack(tarball, filepath.Join(tmp, "data/varlib/service/erlfix", strconv.Itoa(n), "current")); err != nil {
			os.RemoveAll(tmp)
			return nil, err
		}
	}
	epmd, stopEPMD, err := benchkit.StartEPMD()
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	d.stop = func() {
		if d.cmd.Process != nil {
			d.cmd.Process.Signal(syscall.SIGTERM)
			d.cmd.Wait()
		}
		stopEPMD()
		os.RemoveAll(tmp)
	}
	httpPort := benchkit.FreePorts(1)
	d.url = "http://127.0.0.1:" + strconv.Itoa(httpPort)
	d.cmd = exec.Command(bin, "serve", "--stop-apps-on-exit")
	d.cmd.Env = append(os.Environ(),
		"ERL_EPMD_PORT="+strconv.Itoa(epmd),
		"DEPLOYEX_DATA_DIR="+filepath.Join(tmp, "data"),
		"DEPLOYEX_LOG_DIR="+d.logDir,
		"DEPLOYEX_RELEASE_BUCKET="+filepath.Join(tmp, "bucket"),
		"DEPLOYEX_PHX_PORT="+strconv.Itoa(httpPort),
		"DEPLOYEX_MONITORED_APP_NAME=erlfix",
		"DEPLOYEX_MONITORED_APP_LANG=erlang",
		"DEPLOYEX_MONITORED_REPLICAS="+strconv.Itoa(replicas),
		"DEPLOYEX_MONITORED_APP_PORT="+strconv.Itoa(d.port),
		"DEPLOYEX_OTP_DISTRIBUTION=false",
		"DEPLOYEX_RESTART_BACKOFF_INITIAL_MS=100",
		// Stable soon after each restart, so the backoff does not grow round after round.
		"DEPLOYEX_APP_READY_MS=500",
	)
	log, err := os.Create(filepath.Join(tmp, "deployex.log"))
	if err != nil {
		d.stop()
		return nil, err
	}
	d.cmd.Stdout, d.cmd.Stderr = log, log
	if err := d.cmd.Start(); err != nil {
		d.stop()
		return nil, err
	}
	if err := d.login(); err != nil {
		said, _ := os.ReadFile(log.Name())
		d.stop()
		return nil, fmt.Errorf("%w; deployex said:\n%s", err, said)
	}
	for n := 1; n <= replicas; n++ {
		if _, err := benchkit.WaitServing(d.port+n-1, 0, 60*time.Second); err != nil {
			d.stop()
			return nil, err
		}
	}
	fmt.Printf("deployex %s (pid %d) supervising %d erlfix replicas\n", d.url, d.cmd.Process.Pid, replicas)
	return d, nil
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// login signs in as the local admin through the form, as a browser would.
func (d *deployex) login() error {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var body []byte
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := c.Get(d.url + "/login")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("deployex did not answer: %w", err)
		}
	}
	m := csrfRE.FindSubmatch(body)
	if m == nil {
		return errors.New("no CSRF token on /login")
	}
	resp, err := c.PostForm(d.url+"/login", url.Values{"_csrf": {string(m[1])}, "username": {"admin"}, "password": {"deployex"}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	u, _ := url.Parse(d.url)
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "deployex_session" {
			d.cookie = ck.Name + "=" + ck.Value
			return nil
		}
	}
	return fmt.Errorf("login: status %d and no session cookie", resp.StatusCode)
}

// stream opens an SSE stream with the admin's session; dial tunes the socket.
func (d *deployex) stream(ctx context.Context, path string, control func(fd uintptr)) (*http.Response, error) {
	dialer := &net.Dialer{}
	if control != nil {
		dialer.Control = func(_, _ string, rc syscall.RawConn) error { return rc.Control(control) }
	}
	c := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, DisableCompression: true}}
	req, _ := http.NewRequestWithContext(ctx, "GET", d.url+path, nil)
	req.Header.Set("Cookie", d.cookie)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %d", path, resp.StatusCode)
	}
	return resp, nil
}

// fanOut kills replica 1's VM once per round and measures when each SSE
// client receives replica 1's card again.
func fanOut(d *deployex, clients, rounds int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu              sync.Mutex
		killed          time.Time // zero between rounds
		got             = map[int]time.Duration{}
		samples, firsts []time.Duration
	)
	var connected sync.WaitGroup
	connected.Add(clients)
	for i := 0; i < clients; i++ {
		resp, err := d.stream(ctx, "/events", nil)
		if err != nil {
			return err
		}
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			caughtUp := false
			for sc.Scan() {
				line := sc.Text()
				if !caughtUp && strings.HasPrefix(line, "event: instance-erlfix-3") {
					caughtUp = true // the catch-up at connect is over
					connected.Done()
				}
				if line != "event: instance-erlfix-1" {
					continue
				}
				at := time.Now()
				mu.Lock()
				if _, seen := got[i]; !seen && !killed.IsZero() {
					got[i] = at.Sub(killed)
				}
				mu.Unlock()
			}
		}()
	}
	connected.Wait()
	fmt.Printf("\n== fan-out: %d SSE clients on /events, kill -9 of erlfix-1's VM, %d rounds\n", clients, rounds)
	for r := 0; r < rounds; r++ {
		pid, err := benchkit.OSPid(d.port)
		if err != nil {
			return err
		}
		time.Sleep(time.Second) // quiet: the replica has settled
		mu.Lock()
		clear(got)
		killed = time.Now()
		mu.Unlock()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return err
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n == clients || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		round := make([]time.Duration, 0, len(got))
		for _, v := range got {
			round = append(round, v)
		}
		killed = time.Time{}
		mu.Unlock()
		samples = append(samples, round...)
		if len(round) > 0 {
			firsts = append(firsts, slices.Min(round))
		}
		fmt.Printf("round %d: %d/%d clients updated after the kill: first %s, p50 %s p99 %s max %s\n", r+1, len(round), clients,
			benchkit.Pct(round, 0), benchkit.Pct(round, 50), benchkit.Pct(round, 99), benchkit.Pct(round, 100))
		if _, err := benchkit.WaitServing(d.port, pid, 30*time.Second); err != nil {
			return err
		}
	}
	fmt.Printf("all rounds: %d deliveries (of %d), kill to card p50 %s p99 %s max %s (target p99 ≤ 200ms)\n",
		len(samples), clients*rounds, benchkit.Pct(samples, 50), benchkit.Pct(samples, 99), benchkit.Pct(samples, 100))
	fmt.Printf("of which the supervisor noticing the exit and the first client served: p50 %s max %s\n",
		benchkit.Pct(firsts, 50), benchkit.Pct(firsts, 100))
	return nil
}

// dashboardGET runs wrk against GET / with the admin's session.
func dashboardGET(d *deployex) error {
	fmt.Printf("\n== GET / with wrk: 2 threads, 50 connections, 10 s\n")
	out, err := exec.Command("wrk", "-t2", "-c50", "-d10s", "--latency", "-H", "Cookie: "+d.cookie, d.url+"/").CombinedOutput()
	if err != nil {
		return fmt.Errorf("wrk: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && (f[0] == "50%" || f[0] == "90%" || f[0] == "99%"):
			fmt.Printf("latency p%s %s\n", strings.TrimSuffix(f[0], "%"), f[1])
		case strings.HasPrefix(line, "Requests/sec") || strings.Contains(line, "requests in") ||
			strings.Contains(line, "Non-2xx") || strings.Contains(line, "Socket errors"):
			fmt.Print(strings.TrimSpace(line) + "\n")
		}
	}
	return nil
}

// logStorm has a writer append rate lines/s to replica 1's stdout while
// viewers follow it over HTTP and stalled clients hold streams they never
// read, and samples deployex's CPU and RSS.
func logStorm(d *deployex, viewers, stalled, rate int, duration time.Duration) error {
	fmt.Printf("\n== log storm: %d lines/s for %s into erlfix-1-stdout.log, %d viewers reading, %d never reading\n",
		rate, duration, viewers, stalled)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const path = "/apps/erlfix/instances/1/logs/stdout/live"
	var lines, skipped atomic.Int64
	skippedRE := regexp.MustCompile(`skipped (\d+) lines`)
	for i := 0; i < viewers; i++ {
		resp, err := d.stream(ctx, path, nil)
		if err != nil {
			return err
		}
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 64<<20)
			for sc.Scan() {
				b := sc.Bytes()
				lines.Add(int64(bytes.Count(b, []byte(`<div class="ln"`)) + bytes.Count(b, []byte(`<div class="ln cut"`))))
				for _, m := range skippedRE.FindAllSubmatch(b, -1) {
					n, _ := strconv.Atoi(string(m[1]))
					skipped.Add(int64(n))
				}
			}
		}()
	}
	smallWindow := func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) }
	var stuck []io.ReadCloser // read nothing until the end
	for i := 0; i < stalled; i++ {
		resp, err := d.stream(ctx, path, smallWindow)
		if err != nil {
			return err
		}
		stuck = append(stuck, resp.Body)
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	writer := exec.Command(self, "-write", filepath.Join(d.logDir, "erlfix", "erlfix-1-stdout.log"),
		"-rate", strconv.Itoa(rate), "-duration", duration.String())
	writer.Stdout, writer.Stderr = os.Stdout, os.Stderr
	pid := d.cmd.Process.Pid
	first, err := hostinfo.ReadProcess(pid)
	if err != nil {
		return err
	}
	start := time.Now()
	fmt.Printf("%6s %8s %10s %14s\n", "t", "cpu", "rss", "lines shown")
	prev, prevAt := first, start
	var rss []uint64
	report := func() {
		now := time.Now()
		p, _ := hostinfo.ReadProcess(pid)
		rss = append(rss, p.RSS)
		fmt.Printf("%5.1fs %7.1f%% %7.1fMB %14d\n", now.Sub(start).Seconds(),
			100*(p.CPU-prev.CPU).Seconds()/now.Sub(prevAt).Seconds(), float64(p.RSS)/(1<<20), lines.Load())
		prev, prevAt = p, now
	}
	if err := benchkit.RunReporting(writer, report); err != nil {
		return err
	}
	time.Sleep(time.Second) // the follower and the viewers drain
	report()
	last, wall := prev, prevAt.Sub(start)
	written := int64(rate) * int64(duration/time.Second)
	fmt.Printf("CPU during the storm: %.2f cores (target ≤ 0.50)\n", (last.CPU-first.CPU).Seconds()/wall.Seconds())
	fmt.Printf("RSS: before %.1f MB, peak %.1f MB, end %.1f MB\n",
		float64(first.RSS)/(1<<20), float64(slices.Max(rss))/(1<<20), float64(rss[len(rss)-1])/(1<<20))
	fmt.Printf("per viewer: %d lines shown (backlog included) + %d reported skipped, of about %d written\n",
		lines.Load()/int64(viewers), skipped.Load()/int64(viewers), written)

	// deployex drops a client whose writes wait longer than its stall
	// timeout (10 s): such a stream then ends once its buffered bytes are
	// read, where a live one would go on.
	time.Sleep(12 * time.Second)
	p, _ := hostinfo.ReadProcess(pid)
	dropped := 0
	for _, body := range stuck {
		ended := make(chan struct{})
		go func() {
			io.Copy(io.Discard, body)
			close(ended)
		}()
		select {
		case <-ended:
			dropped++
		case <-time.After(3 * time.Second):
		}
		body.Close()
	}
	fmt.Printf("12 s after the storm: RSS %.1f MB; %d of %d never-reading clients dropped by deployex\n",
		float64(p.RSS)/(1<<20), dropped, stalled)
	return nil
}
