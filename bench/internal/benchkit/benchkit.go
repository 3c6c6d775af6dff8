// Package benchkit holds what the benchmark programs under bench/ share:
// a private epmd, free ports, the fixture's line protocol, a log writer
// and percentiles.
package benchkit

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// WriteLogStorm appends rate lines per second to path for d, in 10 ms
// batches, like a busy Phoenix app logging requests with colours.
func WriteLogStorm(path string, rate int, d time.Duration) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	const tick = 10 * time.Millisecond
	buf := make([]byte, 0, rate*int(tick)/int(time.Second)*160)
	n := 0
	start := time.Now()
	for t := time.NewTicker(tick); time.Since(start) < d; <-t.C {
		buf = buf[:0]
		// Catch up after a late tick so the average rate holds.
		for due := int(time.Since(start) * time.Duration(rate) / time.Second); n < due; n++ {
			buf = fmt.Appendf(buf, "%s [info] \x1b[36mGET /api/orders/%d\x1b[0m 200 in %dµs request_id=F%014x <ok>\n",
				time.Now().UTC().Format(time.RFC3339Nano), n, n%997, n)
		}
		if _, err := f.Write(buf); err != nil {
			return err
		}
	}
	fmt.Printf("writer: wrote %d lines in %.1fs\n", n, time.Since(start).Seconds())
	return nil
}

// WaitServing waits for a VM other than old to answer on port; it returns its pid.
func WaitServing(port, old int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if pid, err := OSPid(port); err == nil && pid != old {
			return pid, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("nothing answered on port %d within %s", port, timeout)
}

// OSPid asks the fixture on port for its VM's pid (the fixture's line protocol).
func OSPid(port int) (int, error) {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("os_pid\n")); err != nil {
		return 0, err
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(reply))
}

// Unpack extracts a release tarball into dir with the system tar (the
// benchmarks measure deployex, not its unpacker).
func Unpack(tarball, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("tar", "-xzf", tarball, "-C", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("unpack: %v: %s", err, out)
	}
	return nil
}

// StartEPMD runs a private epmd so the nodes stay off the machine's; stop ends it.
func StartEPMD() (port int, stop func(), err error) {
	port = FreePorts(1)
	cmd := exec.Command("epmd", "-port", strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait() }
	for i := 0; i < 500; i++ {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return port, stop, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	return 0, nil, fmt.Errorf("epmd did not listen on %d", port)
}

// FreePorts finds n consecutive free ports below the ephemeral range.
func FreePorts(n int) int {
	for {
		base := 20000 + rand.IntN(12000-n)
		var held []net.Listener
		for p := base; p < base+n; p++ {
			if l, err := net.Listen("tcp", ":"+strconv.Itoa(p)); err == nil {
				held = append(held, l)
			}
		}
		for _, l := range held {
			l.Close()
		}
		if len(held) == n {
			return base
		}
	}
}

// Pct is the p-th percentile of ds, rounded for printing.
func Pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)*p/100].Round(100 * time.Microsecond).String()
}

// Resident is a process's resident set in KiB, from /proc/PID/status: the
// total and its anonymous and file-backed parts.
type Resident struct{ Total, Anon, File int }

// ReadResident reads the resident set of pid; zero when it has gone.
func ReadResident(pid int) Resident {
	var r Resident
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			r.Total = kb
		case "RssAnon:":
			r.Anon = kb
		case "RssFile:":
			r.File = kb
		}
	}
	return r
}

func (r Resident) String() string {
	return fmt.Sprintf("VmRSS %.1f MiB (anonymous %.1f, file-backed %.1f)",
		float64(r.Total)/1024, float64(r.Anon)/1024, float64(r.File)/1024)
}

// RunReporting runs the writer cmd to its end and calls report once a
// second meanwhile.
func RunReporting(cmd *exec.Cmd, report func()) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			if err != nil {
				return fmt.Errorf("writer: %w", err)
			}
			return nil
		case <-tick.C:
			report()
		}
	}
}
