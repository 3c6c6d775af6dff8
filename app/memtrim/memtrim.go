// Package memtrim gives back the pages of deployex's own code and read-only
// data that only start-up used.
//
// Package initialisation runs code spread over the whole 70-odd MiB binary
// (the AWS and Google SDKs register endpoints, schemas and protobuf
// descriptors), and the kernel maps the file around every fault, so a fresh
// process holds some 40 MiB of the binary that it never touches again.
// Those pages are clean and backed by the file: advising the kernel to page
// them out costs a re-read from the page cache or disk for the few that are
// used again, and leaves the resident set at the idle working set.
package memtrim

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// madvPageout is MADV_PAGEOUT (Linux 5.4): reclaim the range now, freeing
// the page cache too. The syscall package predates it. The kernel only does
// it for file pages when the process owns or may write the file, so an
// unprivileged deployex running a root-owned binary follows it with
// MADV_DONTNEED, which unmaps the pages and leaves them in the page cache.
const madvPageout = 21

// Result is what ReleaseStartupPages did, for the log.
type Result struct {
	Ranges                        int   // read-only mappings of the executable advised
	ResidentBefore, ResidentAfter int64 // bytes of those mappings in memory
}

// ReleaseStartupPages pages out every read-only mapping of the running
// executable. Writable mappings (initialised data) are never touched.
func ReleaseStartupPages() (Result, error) {
	var res Result
	maps, err := exeMappings()
	if err != nil {
		return res, err
	}
	res.ResidentBefore, err = resident(maps)
	if err != nil {
		return res, err
	}
	for _, m := range maps {
		for _, advice := range []uintptr{madvPageout, syscall.MADV_DONTNEED} {
			_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, advice)
			// Kernels before 5.4 do not know MADV_PAGEOUT: MADV_DONTNEED alone.
			if errno != 0 && !(advice == madvPageout && errno == syscall.EINVAL) {
				return res, os.NewSyscallError("madvise", errno)
			}
		}
		res.Ranges++
	}
	res.ResidentAfter, err = resident(maps)
	return res, err
}

type mapping struct{ start, end uintptr }

// exeMappings lists the read-only mappings of /proc/self/exe.
func exeMappings() ([]mapping, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || strings.Join(fields[5:], " ") != exe || strings.Contains(fields[1], "w") {
			continue
		}
		m, ok := parseRange(fields[0])
		if ok {
			out = append(out, m)
		}
	}
	return out, sc.Err()
}

func parseRange(s string) (mapping, bool) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return mapping{}, false
	}
	a, err1 := strconv.ParseUint(lo, 16, 64)
	b, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || b <= a {
		return mapping{}, false
	}
	return mapping{uintptr(a), uintptr(b)}, true
}

// resident sums the Rss lines of /proc/self/smaps for the given mappings.
func resident(maps []mapping) (int64, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total int64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if m, ok := parseRange(fields[0]); ok && len(fields) >= 5 {
			in = false
			for _, x := range maps {
				in = in || x == m
			}
			continue
		}
		if in && fields[0] == "Rss:" && len(fields) >= 2 {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			total += kb << 10
		}
	}
	return total, sc.Err()
}
