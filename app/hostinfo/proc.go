// Package hostinfo reads the vital signs of the host and of processes from
// /proc for the dashboard: CPU, memory, load and uptime of the machine, and
// the resident memory and CPU time of deployex and its replicas.
package hostinfo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc. The kernel fixes it at 100
// for userspace on every architecture deployex runs on, and reading
// sysconf(_SC_CLK_TCK) would need cgo.
const userHZ = 100

// Host is what does not change while deployex runs.
type Host struct {
	Name string // host name
	OS   string // PRETTY_NAME from os-release, e.g. "Debian GNU/Linux 12 (bookworm)"
	CPUs int
}

// ReadHost describes this machine. A missing os-release reads as "Linux".
func ReadHost() Host {
	h := Host{OS: "Linux", CPUs: runtime.NumCPU()}
	h.Name, _ = os.Hostname()
	for _, path := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if data, err := os.ReadFile(path); err == nil {
			if name := prettyName(data); name != "" {
				h.OS = name
			}
			break
		}
	}
	return h
}

// prettyName reads PRETTY_NAME from an os-release file (shell-style
// KEY="value" lines).
func prettyName(data []byte) string {
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "PRETTY_NAME="); ok {
			if u, err := strconv.Unquote(v); err == nil {
				return u
			}
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// Process is what /proc/<pid>/stat says about one process.
type Process struct {
	State byte          // R, S, D, T, Z, …
	Pgrp  int           // process group
	Start uint64        // start time in clock ticks after boot: with the pid, it names one process even after pid reuse
	RSS   uint64        // resident memory in bytes
	CPU   time.Duration // user + system CPU time since the process started
}

// ReadProcess reads /proc/<pid>/stat. A process that is gone gives an error
// satisfying errors.Is(err, fs.ErrNotExist).
func ReadProcess(pid int) (Process, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Process{}, err
	}
	return parseProcStat(data)
}

func parseProcStat(data []byte) (Process, error) {
	// The command name in field 2 is in parentheses and may itself contain
	// spaces and parentheses, so count fields from the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return Process{}, errors.New("hostinfo: malformed /proc/<pid>/stat")
	}
	f := strings.Fields(string(data[i+1:])) // f[0] is field 3, state: field N is f[N-3]
	if len(f) < 22 || len(f[0]) != 1 {
		return Process{}, errors.New("hostinfo: short /proc/<pid>/stat")
	}
	pgrp, err0 := strconv.Atoi(f[2])
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	start, err3 := strconv.ParseUint(f[19], 10, 64)
	rss, err4 := strconv.ParseUint(f[21], 10, 64)
	if err := errors.Join(err0, err1, err2, err3, err4); err != nil {
		return Process{}, fmt.Errorf("hostinfo: /proc/<pid>/stat: %w", err)
	}
	return Process{
		State: f[0][0],
		Pgrp:  pgrp,
		Start: start,
		RSS:   rss * uint64(os.Getpagesize()),
		CPU:   time.Duration(utime+stime) * time.Second / userHZ,
	}, nil
}

// cpuTimes are the host's cumulative CPU ticks from /proc/stat.
type cpuTimes struct{ busy, total uint64 }

func readCPU() (cpuTimes, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	return parseStat(data)
}

func parseStat(data []byte) (cpuTimes, error) {
	line, _, _ := bytes.Cut(data, []byte{'\n'})
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTimes{}, errors.New("hostinfo: no cpu line in /proc/stat")
	}
	// user nice system idle iowait irq softirq steal; guest time is already
	// part of user and nice, so it is left out.
	var t cpuTimes
	for i, s := range f[1:9] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("hostinfo: /proc/stat: %w", err)
		}
		t.total += n
		if i != 3 && i != 4 { // idle and iowait are not busy
			t.busy += n
		}
	}
	return t, nil
}

// percentSince is the busy share of all CPUs between prev and t, 0 to 100.
func (t cpuTimes) percentSince(prev cpuTimes) float64 {
	if t.total <= prev.total || t.busy < prev.busy {
		return 0
	}
	return 100 * float64(t.busy-prev.busy) / float64(t.total-prev.total)
}

// readMem returns used and total memory in bytes. Used is what the kernel
// could not hand to a new program without swapping (MemTotal − MemAvailable),
// so the page cache does not count as used.
func readMem() (used, total uint64, err error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, 0, err
	}
	return parseMeminfo(data)
}

func parseMeminfo(data []byte) (used, total uint64, err error) {
	var avail uint64
	var haveTotal, haveAvail bool
	for line := range strings.Lines(string(data)) {
		key, rest, _ := strings.Cut(line, ":")
		var dst *uint64
		switch key {
		case "MemTotal":
			dst, haveTotal = &total, true
		case "MemAvailable":
			dst, haveAvail = &avail, true
		default:
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("hostinfo: /proc/meminfo %s: %w", key, err)
		}
		*dst = kb << 10
	}
	if !haveTotal || !haveAvail || avail > total {
		return 0, 0, errors.New("hostinfo: /proc/meminfo lacks MemTotal or MemAvailable")
	}
	return total - avail, total, nil
}

func readLoad() (load [3]float64, err error) {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return load, err
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return load, errors.New("hostinfo: malformed /proc/loadavg")
	}
	for i := range load {
		if load[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return load, fmt.Errorf("hostinfo: /proc/loadavg: %w", err)
		}
	}
	return load, nil
}

func readUptime() (time.Duration, error) {
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(data), " ")
	secs, err := strconv.ParseFloat(first, 64)
	if err != nil {
		return 0, fmt.Errorf("hostinfo: /proc/uptime: %w", err)
	}
	return time.Duration(secs * float64(time.Second)), nil
}
