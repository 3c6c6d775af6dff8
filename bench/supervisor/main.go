// Command supervisor measures deployex's supervisor against supervisord on
// the same Erlang release: resident memory of the supervising process with
// the replicas up, and crash-to-respawn latency (kill -9 of a replica's VM
// until its replacement process exists) with no restart backoff.
//
// Run it through run.sh, which builds the release:
//
//	bench/supervisor/run.sh [-replicas 3] [-rounds 20] [-supervisord=false]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"deployex/app/config"
	"deployex/app/events"
	"deployex/app/supervisor"
	"deployex/bench/internal/benchkit"
	"deployex/db"
)

func main() {
	tarball := flag.String("tarball", "", "erlfix release tarball (rebar3 as prod tar)")
	replicas := flag.Int("replicas", 3, "replicas to run")
	rounds := flag.Int("rounds", 20, "kill -9 rounds for deployex")
	svRounds := flag.Int("supervisord-rounds", 5, "kill -9 rounds for supervisord (each takes ~1s)")
	withSV := flag.Bool("supervisord", true, "also measure supervisord when it is installed")
	program := flag.String("program", "", "the deployex binary, to measure the whole program's RSS too")
	flag.Parse()
	if *tarball == "" {
		fmt.Fprintln(os.Stderr, "usage: supervisor -tarball erlfix-VSN.tar.gz")
		os.Exit(2)
	}
	if err := run(*tarball, *program, *replicas, *rounds, *svRounds, *withSV); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	name    string
	rssKB   int
	respawn []time.Duration // kill -9 until the new process exists
	serving []time.Duration // kill -9 until the new VM answers on its port
}

func run(tarball, program string, replicas, rounds, svRounds int, withSV bool) error {
	tmp, err := os.MkdirTemp("", "supervisor-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	epmd, stopEPMD, err := benchkit.StartEPMD()
	if err == nil {
		// The nodes both supervisors start inherit it.
		os.Setenv("ERL_EPMD_PORT", strconv.Itoa(epmd))
	}
	if err != nil {
		return err
	}
	defer stopEPMD()
	dx, err := benchDeployex(tmp, tarball, replicas, rounds)
	if err != nil {
		return fmt.Errorf("deployex: %w", err)
	}
	results := []result{dx}
	if program != "" {
		whole, err := benchProgram(tmp, tarball, program, replicas)
		if err != nil {
			return fmt.Errorf("deployex program: %w", err)
		}
		defer fmt.Println(whole)
	}
	if _, err := exec.LookPath("supervisord"); withSV && err == nil {
		sv, err := benchSupervisord(tmp, tarball, replicas, svRounds)
		if err != nil {
			return fmt.Errorf("supervisord: %w", err)
		}
		results = append(results, sv)
	}
	fmt.Printf("\n%d replicas of erlfix (Erlang/OTP release, `bin/erlfix foreground`), no restart backoff\n", replicas)
	fmt.Printf("%-12s %10s %8s %22s %22s\n", "supervisor", "RSS", "rounds", "respawn p50 / max", "serving again p50")
	for _, r := range results {
		fmt.Printf("%-12s %7.1f MB %8d %10s / %-10s %22s\n", r.name, float64(r.rssKB)/1024, len(r.respawn),
			benchkit.Pct(r.respawn, 50), benchkit.Pct(r.respawn, 100), benchkit.Pct(r.serving, 50))
	}
	return nil
}

func benchDeployex(tmp, tarball string, replicas, rounds int) (result, error) {
	base := benchkit.FreePorts(replicas)
	env := map[string]string{
		"DEPLOYEX_DATA_DIR":                   tmp + "/deployex",
		"DEPLOYEX_LOG_DIR":                    tmp + "/deployex/log",
		"DEPLOYEX_MONITORED_APP_NAME":         "erlfix",
		"DEPLOYEX_MONITORED_APP_LANG":         "erlang",
		"DEPLOYEX_MONITORED_REPLICAS":         strconv.Itoa(replicas),
		"DEPLOYEX_MONITORED_APP_PORT":         strconv.Itoa(base),
		"DEPLOYEX_ERLANG_COOKIE":              "bench",
		"DEPLOYEX_RESTART_BACKOFF_INITIAL_MS": "1",
		"DEPLOYEX_RESTART_BACKOFF_MAX_MS":     "1",
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return result{}, err
	}
	for n := 1; n <= replicas; n++ {
		if err := benchkit.Unpack(tarball, filepath.Join(cfg.ServiceDir("erlfix", n), "current")); err != nil {
			return result{}, err
		}
	}
	ctx := context.Background()
	store, err := db.Open(ctx, cfg.DBPath())
	if err != nil {
		return result{}, err
	}
	defer store.Close()
	bus := events.NewBus()
	sub := bus.Subscribe(1000, func(e events.Event) bool { return e.Instance == 1 })
	defer sub.Close()
	sup := supervisor.New(cfg, store, bus, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ran := make(chan error, 1)
	go func() { ran <- sup.Run(ctx) }()
	defer func() {
		sup.Shutdown(ctx, true)
		<-ran
	}()

	for n := 1; n <= replicas; n++ {
		if _, err := benchkit.WaitServing(base+n-1, 0, 60*time.Second); err != nil {
			return result{}, err
		}
	}
	time.Sleep(3 * time.Second) // settle: the number is the steady state, not the boot
	r := result{name: "deployex", rssKB: benchkit.ReadResident(os.Getpid()).Total}
	dir := filepath.Join(cfg.ServiceDir("erlfix", 1), "current")
	var noticed, spawned []time.Duration
	for i := 0; i < rounds; i++ {
		old := sup.Instances("erlfix")[0].OSPid
		for len(sub.C) > 0 {
			<-sub.C
		}
		killed, err := crashOnce(&r, dir, base, old)
		if err != nil {
			return r, err
		}
		// The supervisor's own view, from its events: when the exit was
		// recorded, and when the new process ran.
		for len(sub.C) > 0 {
			e := <-sub.C
			switch {
			case strings.HasPrefix(e.Message, "backoff: exited"):
				noticed = append(noticed, e.At.Sub(killed))
			case strings.HasPrefix(e.Message, "running (pid"):
				spawned = append(spawned, e.At.Sub(killed))
			}
		}
	}
	fmt.Printf("deployex events: exit noticed p50 %s, new process running p50 %s (after kill -9)\n",
		benchkit.Pct(noticed, 50), benchkit.Pct(spawned, 50))
	return r, nil
}

// benchProgram runs the real binary as an operator would: the release comes
// from a local bucket through a deployment, the web app and the OTP node run,
// and the resident set is read once everything has settled.
func benchProgram(tmp, tarball, program string, replicas int) (string, error) {
	bucket := tmp + "/bucket"
	for _, d := range []string{"/versions/erlfix/local", "/dist/erlfix"} {
		if err := os.MkdirAll(bucket+d, 0o755); err != nil {
			return "", err
		}
	}
	release, err := os.ReadFile(tarball)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(bucket+"/dist/erlfix/erlfix-1.0.0.tar.gz", release, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(bucket+"/versions/erlfix/local/current.json", []byte(`{"version":"1.0.0","hash":"bench"}`), 0o644); err != nil {
		return "", err
	}
	base := benchkit.FreePorts(replicas)
	cmd := exec.Command(program, "serve", "--stop-apps-on-exit")
	cmd.Env = append(os.Environ(),
		"DEPLOYEX_DATA_DIR="+tmp+"/program", "DEPLOYEX_LOG_DIR="+tmp+"/program/log",
		"DEPLOYEX_RELEASE_BUCKET="+bucket, "DEPLOYEX_PHX_PORT="+strconv.Itoa(benchkit.FreePorts(1)),
		"DEPLOYEX_MONITORED_APP_NAME=erlfix", "DEPLOYEX_MONITORED_APP_LANG=erlang",
		"DEPLOYEX_MONITORED_REPLICAS="+strconv.Itoa(replicas), "DEPLOYEX_MONITORED_APP_PORT="+strconv.Itoa(base),
		"DEPLOYEX_ERLANG_COOKIE=bench", "DEPLOYEX_APP_READY_MS=1000", "DEPLOYEX_DEPLOY_SCHEDULE_INTERVAL_MS=1000")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	for n := 1; n <= replicas; n++ {
		if _, err := benchkit.WaitServing(base+n-1, 0, 90*time.Second); err != nil {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			return "", fmt.Errorf("%w; deployex said:\n%s", err, out.Bytes())
		}
	}
	time.Sleep(10 * time.Second)
	return fmt.Sprintf("deployex, the whole program (web app, OTP node, %d replicas deployed from a local bucket), 10 s after the last one answered:\n  %s",
		replicas, benchkit.ReadResident(cmd.Process.Pid)), nil
}

func benchSupervisord(tmp, tarball string, replicas, rounds int) (result, error) {
	base := benchkit.FreePorts(replicas)
	dir := tmp + "/supervisord"
	conf := fmt.Sprintf(`[supervisord]
nodaemon=true
logfile=%[1]s/supervisord.log
pidfile=%[1]s/supervisord.pid
childlogdir=%[1]s

[unix_http_server]
file=%[1]s/supervisor.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
`, dir)
	for n := 1; n <= replicas; n++ {
		rel := fmt.Sprintf("%s/%d", dir, n)
		if err := benchkit.Unpack(tarball, rel); err != nil {
			return result{}, err
		}
		conf += fmt.Sprintf(`
[program:erlfix-%[1]d]
command=%[2]s/bin/erlfix foreground
directory=%[2]s
environment=RELEASE_NODE="erlfix-sv-%[1]d",RELEASE_COOKIE="bench",RELX_REPLACE_OS_VARS="true",PORT="%[3]d"
autorestart=true
startsecs=0
stopasgroup=true
killasgroup=true
stdout_logfile=%[2]s-stdout.log
stderr_logfile=%[2]s-stderr.log
`, n, rel, base+n-1)
	}
	if err := os.WriteFile(dir+"/supervisord.conf", []byte(conf), 0o600); err != nil {
		return result{}, err
	}
	cmd := exec.Command("supervisord", "-n", "-c", dir+"/supervisord.conf")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	for n := 1; n <= replicas; n++ {
		if _, err := benchkit.WaitServing(base+n-1, 0, 60*time.Second); err != nil {
			return result{}, err
		}
	}
	time.Sleep(3 * time.Second)
	r := result{name: "supervisord", rssKB: benchkit.ReadResident(cmd.Process.Pid).Total}
	for i := 0; i < rounds; i++ {
		old, err := benchkit.OSPid(base)
		if err != nil {
			return r, err
		}
		if _, err := crashOnce(&r, dir+"/1", base, old); err != nil {
			return r, err
		}
	}
	return r, nil
}

// crashOnce kills the VM serving port and times its replacement: first the
// new process started from dir, then the new VM answering. It returns when
// the kill was sent.
func crashOnce(r *result, dir string, port, old int) (time.Time, error) {
	start := time.Now()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		return start, err
	}
	if err := waitNewProcess(dir, old, 30*time.Second); err != nil {
		return start, err
	}
	r.respawn = append(r.respawn, time.Since(start))
	if _, err := benchkit.WaitServing(port, old, 60*time.Second); err != nil {
		return start, err
	}
	r.serving = append(r.serving, time.Since(start))
	time.Sleep(200 * time.Millisecond)
	return start, nil
}

// waitNewProcess polls /proc until a live process other than old runs with
// dir in its command line (the release's start script, then the VM).
func waitNewProcess(dir string, old int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == old || pid == os.Getpid() {
				continue
			}
			cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err == nil && strings.Contains(string(cmdline), dir+"/") && !zombie(pid) {
				return nil
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	return fmt.Errorf("no new process from %s within %s", dir, timeout)
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z'
}
