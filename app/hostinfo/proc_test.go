package hostinfo

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and a ')' must not shift the fields.
	line := "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 2914 0 0 0 150 25 0 0 20 0 12 0 3851 1266413568 5120 18446744073709551615 1 1 0 0 0 0 0 4096 17610 0 0 0 17 1 0 0 0 0 0\n"
	p, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if p.CPU != 1750*time.Millisecond || p.RSS != 5120*uint64(os.Getpagesize()) || p.State != 'S' || p.Pgrp != 4242 || p.Start != 3851 {
		t.Fatalf("got %+v", p)
	}
	for _, bad := range []string{"", "12 (x) S 1 2", "12 (x) S 1 2 3 4 5 6 7 8 9 10 ten 12 13 14 15 16 17 18 19 20 21 22"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q) gave no error", bad)
		}
	}
}

func TestParseStatAndPercent(t *testing.T) {
	a, err := parseStat([]byte("cpu  100 0 100 700 100 0 0 0 50 0\ncpu0 1 2 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := parseStat([]byte("cpu  250 0 150 850 150 0 0 0 90 0\n"))
	if a.total != 1000 || a.busy != 200 {
		t.Fatalf("a = %+v", a)
	}
	if got := b.percentSince(a); got != 50 {
		t.Fatalf("percent = %v, want 50", got)
	}
	if got := a.percentSince(a); got != 0 {
		t.Fatalf("no time passed: percent = %v", got)
	}
	if _, err := parseStat([]byte("intr 1 2 3\n")); err == nil {
		t.Fatal("want an error without a cpu line")
	}
}

func TestParseMeminfo(t *testing.T) {
	used, total, err := parseMeminfo([]byte("MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:   12000000 kB\nBuffers: 1 kB\n"))
	if err != nil {
		t.Fatal(err)
	}
	if total != 16000000<<10 || used != 4000000<<10 {
		t.Fatalf("used %d total %d", used, total)
	}
	if _, _, err := parseMeminfo([]byte("MemTotal: 1 kB\n")); err == nil {
		t.Fatal("want an error without MemAvailable")
	}
}

func TestPrettyName(t *testing.T) {
	for in, want := range map[string]string{
		"NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n": "Debian GNU/Linux 12 (bookworm)",
		"PRETTY_NAME='Alpine Linux v3.20'\n":                                          "Alpine Linux v3.20",
		"PRETTY_NAME=Plain\n":                                                         "Plain",
		"ID=debian\n":                                                                 "",
	} {
		if got := prettyName([]byte(in)); got != want {
			t.Errorf("prettyName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRealHost(t *testing.T) {
	h := ReadHost()
	if h.Name == "" || h.OS == "" || h.CPUs < 1 {
		t.Fatalf("host %+v", h)
	}
	s, cur, err := readSample(cpuTimes{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("host %+v, sample %+v", h, s)
	switch {
	case cur.total == 0 || cur.busy > cur.total:
		t.Errorf("cpu times %+v", cur)
	case s.MemTotal < 64<<20 || s.MemUsed == 0 || s.MemUsed >= s.MemTotal:
		t.Errorf("memory %d of %d", s.MemUsed, s.MemTotal)
	case s.Load1 < 0 || s.Load5 < 0 || s.Load15 < 0:
		t.Errorf("load %v %v %v", s.Load1, s.Load5, s.Load15)
	case s.Uptime < time.Second:
		t.Errorf("uptime %v", s.Uptime)
	case s.RSS < 1<<20 || s.RSS > 4<<30:
		t.Errorf("own RSS %d", s.RSS)
	}
}

func TestReadProcess(t *testing.T) {
	// Burn until the kernel has charged 250ms to us, so the test does not
	// depend on how busy the machine is; CPU time can't outrun the clock.
	start := time.Now()
	before, err := ReadProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for {
		burn(50 * time.Millisecond)
		after, err := ReadProcess(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		used, wall := after.CPU-before.CPU, time.Since(start)
		if used > wall*time.Duration(ReadHost().CPUs)+50*time.Millisecond {
			t.Fatalf("%v of CPU time in %v of wall time", used, wall)
		}
		if used >= 250*time.Millisecond {
			break
		}
		if wall > 10*time.Second {
			t.Fatalf("burning for %v showed only %v of CPU time", wall, used)
		}
	}

	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	pid := child.Process.Pid
	// Between fork and exec the child has no memory of its own yet.
	var p Process
	for end := time.Now().Add(2 * time.Second); p.RSS == 0 && err == nil && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
		p, err = ReadProcess(pid)
	}
	child.Process.Kill()
	child.Wait()
	if err != nil || p.RSS == 0 || p.RSS > 1<<30 {
		t.Fatalf("child: %+v, %v", p, err)
	}
	if _, err := ReadProcess(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reaped child: err = %v", err)
	}
}

// burn keeps one core busy for d.
func burn(d time.Duration) {
	x := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := range 10000 {
			x += i
		}
	}
	_ = x
}
