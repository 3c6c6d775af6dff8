package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"deployex/app/hostinfo"
)

// proc is one OS process of a replica: the leader of its own session and
// process group (pgid = pid), which is how the whole tree of a BEAM node
// (beam.smp, erl_child_setup, heart, port programs) is signalled at once.
//
// The process is watched through a pidfd registered with Go's netpoller, so a
// watched process costs no thread and its exit is seen at once, whether it
// is our child or one adopted from an earlier deployex.
type proc struct {
	pid    int
	ticks  uint64    // start time, /proc/<pid>/stat field 22: pid + ticks name one process for good
	cmd    *exec.Cmd // nil when adopted: not our child, so no exit status
	pidfd  *os.File
	exited chan struct{} // closed once the process has ended
}

// errGone says a recorded process no longer exists (or its pid now names
// another program).
var errGone = errors.New("process gone")

// spawn starts argv as the leader of a new session.
func spawn(argv []string, dir string, env []string, stdout, stderr *os.File) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A new session: no controlling terminal, and signals aimed at deployex's
	// group (Ctrl-C, a systemd stop with KillMode=control-group aside) miss it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// An unreaped child keeps its pid and /proc entry even if it already
	// exited, so opening the pidfd now cannot race with pid reuse.
	p, err := watch(cmd.Process.Pid, 0)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("watch pid %d: %w", cmd.Process.Pid, err)
	}
	p.cmd = cmd
	return p, nil
}

// adopt takes over a process an earlier deployex started, if pid still names
// that very process (same start time) and it still leads its own group.
func adopt(pid int, ticks uint64) (*proc, error) {
	if st, err := hostinfo.ReadProcess(pid); err != nil || st.Start != ticks || st.Pgrp != pid || st.State == 'Z' {
		return nil, errGone
	}
	return watch(pid, ticks)
}

// watch gets a pidfd for pid and then checks, through the pinned pid, that it
// is the process we expect (ticks == 0: whatever it is, for our own child).
func watch(pid int, ticks uint64) (*proc, error) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil, errGone
		}
		return nil, err
	}
	st, err := hostinfo.ReadProcess(pid)
	if err != nil || (ticks != 0 && st.Start != ticks) {
		unix.Close(fd)
		return nil, errGone
	}
	p := &proc{pid: pid, ticks: st.Start, pidfd: os.NewFile(uintptr(fd), "pidfd:"+strconv.Itoa(pid)), exited: make(chan struct{})}
	rc, err := p.pidfd.SyscallConn()
	if err != nil {
		p.pidfd.Close()
		return nil, err
	}
	go func() {
		// Read parks on the netpoller until the pidfd is readable (the process
		// ended); it fails only when release closes the pidfd.
		err := rc.Read(func(fd uintptr) bool {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, _ := unix.Poll(fds, 0)
			return n > 0
		})
		if err == nil {
			close(p.exited)
		}
	}()
	return p, nil
}

func (p *proc) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// reap collects our child's exit status once it has exited and says why it
// ended; for an adopted process there is no status to collect.
func (p *proc) reap() error {
	if p.cmd == nil {
		return errors.New("adopted process exited (status unknown)")
	}
	err := p.cmd.Wait()
	if err == nil {
		return errors.New("exited with status 0")
	}
	return err
}

// release stops watching without touching the process (deployex leaves it
// running for the next deployex to adopt).
func (p *proc) release() { p.pidfd.Close() }

// signalGroup sends sig to every process of the replica's group.
func (p *proc) signalGroup(sig unix.Signal) {
	if !p.groupIsOurs() {
		return
	}
	// ESRCH: nothing of the group is left.
	unix.Kill(-p.pid, sig)
}

// groupIsOurs says whether process group p.pid still belongs to this
// replica. While the leader lives (or is an unreaped zombie) it does. Once it
// is gone, the kernel keeps its pid reserved as long as any member of its
// group lives; so if the pid now names a different process, nothing of ours
// is left and the group, if any, is someone else's.
func (p *proc) groupIsOurs() bool {
	if !p.hasExited() {
		return true
	}
	st, err := hostinfo.ReadProcess(p.pid)
	return err != nil || st.Start == p.ticks
}

// members lists the live processes left in the replica's group.
func (p *proc) members() []int {
	if !p.groupIsOurs() {
		return nil
	}
	return groupMembers(p.pid)
}

// stop ends the whole group: SIGTERM, then SIGKILL once timeout has passed
// for the leader or any member still alive (heart, erl_child_setup, port
// programs). It reports whether SIGKILL was needed, and an error if
// something of the group survived even that.
func (p *proc) stop(timeout time.Duration) (killed bool, err error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	p.signalGroup(unix.SIGTERM)
	// A stopped (SIGSTOPped) VM acts on the pending SIGTERM only once continued.
	p.signalGroup(unix.SIGCONT)
	select {
	case <-p.exited:
		killed = p.clearGroup(deadline.C)
	case <-deadline.C:
		killed = true
		p.signalGroup(unix.SIGKILL)
	}
	return killed, p.waitGroupGone()
}

// clearGroup gives the rest of an exited leader's group until deadline to
// follow it, then kills it; it reports whether it had to.
func (p *proc) clearGroup(deadline <-chan time.Time) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for len(p.members()) > 0 {
		select {
		case <-tick.C:
		case <-deadline:
			p.signalGroup(unix.SIGKILL)
			return true
		}
	}
	return false
}

// killLeftovers kills what an exited leader left behind in its group and
// waits for it to be gone.
func (p *proc) killLeftovers() error {
	if len(p.members()) == 0 {
		return nil
	}
	p.signalGroup(unix.SIGKILL)
	return p.waitGroupGone()
}

// waitGroupGone waits for the leader and its group to be gone after SIGKILL
// (or a clean exit); only a process stuck in the kernel outlasts it.
func (p *proc) waitGroupGone() error {
	limit := time.Now().Add(5 * time.Second)
	for time.Now().Before(limit) {
		if p.hasExited() && len(p.members()) == 0 {
			return nil
		}
		// SIGKILLed processes go within milliseconds; a fine poll keeps the
		// crash-to-respawn path short.
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("process group %d still has processes %v", p.pid, p.members())
}

// groupMembers lists the live (not zombie) processes whose group is pgid.
func groupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := hostinfo.ReadProcess(pid); err == nil && st.Pgrp == pgid && st.State != 'Z' && st.State != 'X' {
			pids = append(pids, pid)
		}
	}
	return pids
}
