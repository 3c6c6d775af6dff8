// Package otptest starts real BEAM nodes for tests and benchmarks: OTP 25
// from the host, OTP 27 (erl or Elixir) from the cached trixie chroot, each
// registered with a private epmd so nothing else on the machine interferes.
package otptest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"deployex/app/internal/otp27"
)

// Kind selects the runtime of a node.
type Kind int

const (
	OTP25    Kind = iota // the host's erl
	OTP27                // erl inside the trixie chroot
	Elixir27             // elixir inside the trixie chroot
)

func (k Kind) String() string {
	return [...]string{"otp25", "otp27", "elixir27"}[k]
}

// EPMD starts a private epmd in the foreground on a free port and stops it
// when the test ends.
func EPMD(t testing.TB) int {
	t.Helper()
	port := FreePort(t)
	cmd := exec.Command("epmd", "-port", strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start epmd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			c.Close()
			return port
		}
	}
	t.Fatalf("epmd did not listen on %d", port)
	return 0
}

// FreePort returns a TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Spec describes a node to start.
type Spec struct {
	Kind     Kind
	Name     string // short name, before '@'
	Cookie   string
	EPMDPort int
	// ErlArgs go to erl (for Elixir through --erl), e.g. TLS distribution flags.
	ErlArgs []string
	// Eval is Erlang (or, for Elixir27, Elixir) code run once distribution is up.
	Eval string
}

// BEAM is a running node.
type BEAM struct {
	Spec
	Host  string
	t     testing.TB
	cmd   *exec.Cmd
	out   *syncBuffer
	ready time.Time
}

// FullName is name@host.
func (b *BEAM) FullName() string { return b.Name + "@" + b.Host }

// Started is when the node printed that distribution was up.
func (b *BEAM) Started() time.Time { return b.ready }

// OSPid is the pid of the VM (the chroot, erl and elixir launchers exec it).
func (b *BEAM) OSPid() int { return b.cmd.Process.Pid }

// Start starts a node and waits until its distribution is up. The node is
// killed when the test ends.
func Start(t testing.TB, s Spec) *BEAM {
	t.Helper()
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	b := &BEAM{Spec: s, Host: host, t: t}
	b.start()
	t.Cleanup(func() {
		b.Kill()
		if t.Failed() {
			t.Logf("output of %s (%s):\n%s", b.FullName(), b.Kind, b.out.String())
		}
	})
	return b
}

// Restart starts the node again under the same name, after Kill.
func (b *BEAM) Restart() {
	b.t.Helper()
	b.start()
}

func (b *BEAM) start() {
	b.t.Helper()
	const marker = "deployex-test-node-ready"
	var cmd *exec.Cmd
	switch b.Kind {
	case OTP25:
		cmd = exec.Command("erl", b.erlArgs(marker)...)
	case OTP27:
		cmd = otp27.Command(otp27.Root(b.t), "erl", b.erlArgs(marker)...)
	case Elixir27:
		args := []string{"--sname", b.Name, "--cookie", b.Cookie, "--no-halt"}
		if len(b.ErlArgs) > 0 {
			args = append(args, "--erl", strings.Join(b.ErlArgs, " "))
		}
		args = append(args, "-e", b.Eval+"\nIO.puts(\""+marker+"\")")
		cmd = otp27.Command(otp27.Root(b.t), "elixir", args...)
	}
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(b.EPMDPort), "HOME=/root")
	// Its own process group, so Kill reaches every child (erl_child_setup, ...).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	b.out = &syncBuffer{}
	cmd.Stderr = b.out
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start %s node: %v", b.Kind, err)
	}
	b.cmd = cmd
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(b.out, line)
			if strings.Contains(line, marker) {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
		b.ready = time.Now()
	case <-time.After(20 * time.Second):
		b.Kill()
		b.t.Fatalf("%s node %s did not start:\n%s", b.Kind, b.FullName(), b.out.String())
	}
}

func (b *BEAM) erlArgs(marker string) []string {
	args := []string{"-sname", b.Name, "-setcookie", b.Cookie, "-noshell"}
	args = append(args, b.ErlArgs...)
	eval := `io:format("` + marker + `~n").`
	if b.Eval != "" {
		eval = b.Eval + ", " + eval
	}
	return append(args, "-eval", eval)
}

// Kill sends SIGKILL to the node's process group and reaps it.
func (b *BEAM) Kill() {
	if b.cmd == nil || b.cmd.ProcessState != nil {
		return
	}
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGCONT)
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	_ = b.cmd.Wait()
}

// Freeze stops the VM with SIGSTOP: its sockets stay open but nothing answers.
// kill(2) returns before the threads have stopped, and a scheduler thread
// still running can answer one more message, so Freeze waits until every
// thread of the process group reports the stopped state.
func (b *BEAM) Freeze() {
	b.t.Helper()
	pgid := b.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGSTOP)
	for deadline := time.Now().Add(2 * time.Second); !groupStopped(pgid); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.t.Fatalf("%s did not stop within 2s of SIGSTOP", b.FullName())
		}
	}
}

// groupStopped reports whether every thread of every process in the group is
// in state T (stopped) according to /proc.
func groupStopped(pgid int) bool {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if g, err := syscall.Getpgid(pid); err != nil || g != pgid {
			continue
		}
		tasks, _ := os.ReadDir("/proc/" + p.Name() + "/task")
		for _, task := range tasks {
			stat, err := os.ReadFile("/proc/" + p.Name() + "/task/" + task.Name() + "/stat")
			if err != nil {
				continue // the thread ended
			}
			// The state follows the command name, which is in parentheses.
			rest := stat[bytes.LastIndexByte(stat, ')')+1:]
			if f := bytes.Fields(rest); len(f) > 0 && f[0][0] != 'T' && f[0][0] != 't' && f[0][0] != 'Z' {
				return false
			}
		}
	}
	return true
}

// Thaw resumes a frozen VM.
func (b *BEAM) Thaw() {
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGCONT)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
