// Command logtail measures what following a log storm costs deployex: a
// child process appends lines at a fixed rate while this process follows the
// file with app/logtail and feeds a number of viewers, some of them too slow
// to keep up. It prints this process's CPU use and RSS as it goes.
//
//	go run ./bench/logtail [-rate 20000] [-duration 10s] [-viewers 20] [-slow 5]
//
// The writer is a separate process so its own CPU does not count against
// the follower, as in production where the replica writes the file.
package main

import (
	"flag"
	"fmt"
	"html"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"time"

	"deployex/app/hostinfo"
	"deployex/app/logtail"
	"deployex/bench/internal/benchkit"
)

func main() {
	rate := flag.Int("rate", 20000, "lines per second the writer appends")
	duration := flag.Duration("duration", 10*time.Second, "how long the writer writes")
	viewers := flag.Int("viewers", 20, "subscribers following the file")
	slow := flag.Int("slow", 5, "how many of the viewers take 1 ms per line")
	buffer := flag.Int("buffer", 32, "batches buffered per viewer")
	writeTo := flag.String("write", "", "internal: be the writer child, appending to this file")
	flag.Parse()

	if *writeTo != "" {
		if err := benchkit.WriteLogStorm(*writeTo, *rate, *duration); err != nil {
			fmt.Fprintln(os.Stderr, "writer:", err)
			os.Exit(1)
		}
		return
	}
	if *viewers < 1 || *slow < 0 || *slow > *viewers {
		fmt.Fprintln(os.Stderr, "need 1 or more viewers, of which 0 to all are slow (no viewer, no follower)")
		os.Exit(2)
	}
	if err := run(*rate, *duration, *viewers, *slow, *buffer); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type viewer struct {
	sub           *logtail.Subscription
	read, skipped atomic.Uint64
}

// watch reads like an SSE handler: per batch, report skips, sanitize and
// escape each line and "send" them; a slow viewer also takes 1 ms per line.
func (v *viewer) watch(slow bool) {
	s := v.sub
	idle := time.NewTicker(250 * time.Millisecond)
	defer idle.Stop()
	var out []byte
	for {
		select {
		case b, ok := <-s.C:
			if !ok {
				return
			}
			v.skipped.Add(s.Skipped(b))
			out = out[:0]
			for _, l := range b.Lines {
				out = append(out, html.EscapeString(logtail.Sanitize(l.Text))...)
				out = append(out, '\n')
				if slow {
					time.Sleep(time.Millisecond)
				}
			}
			io.Discard.Write(out)
			v.read.Add(uint64(len(b.Lines)))
		case <-idle.C:
			v.skipped.Add(s.Behind())
		}
	}
}

func run(rate int, d time.Duration, nviewers, nslow, buffer int) error {
	dir, err := os.MkdirTemp("", "logtail-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "myapp-1-stdout.log")

	tl := logtail.New(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	vs := make([]*viewer, nviewers)
	for i := range vs {
		s, err := tl.Subscribe(200, buffer, logtail.Source{Key: "myapp-1-stdout", Path: path})
		if err != nil {
			return err
		}
		vs[i] = &viewer{sub: s}
		go vs[i].watch(i < nslow)
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	writer := exec.Command(self, "-write", path, "-rate", fmt.Sprint(rate), "-duration", d.String())
	writer.Stdout, writer.Stderr = os.Stdout, os.Stderr

	fmt.Printf("writer: %d lines/s for %v; %d viewers (%d slow, 1 ms/line), buffer %d batches each\n",
		rate, d, nviewers, nslow, buffer)
	fmt.Printf("%6s %10s %10s %14s %14s\n", "t", "cpu", "rss", "first read", "last read")
	start := time.Now()
	first, err := hostinfo.ReadProcess(os.Getpid())
	if err != nil {
		return err
	}
	prev, prevAt := first, start
	var rss []uint64
	report := func() {
		now := time.Now()
		p, _ := hostinfo.ReadProcess(os.Getpid())
		rss = append(rss, p.RSS)
		fmt.Printf("%5.1fs %9.1f%% %8.1fMB %14d %14d\n", now.Sub(start).Seconds(),
			100*(p.CPU-prev.CPU).Seconds()/now.Sub(prevAt).Seconds(),
			float64(p.RSS)/(1<<20), vs[0].read.Load(), vs[len(vs)-1].read.Load())
		prev, prevAt = p, now
	}
	report()
	if err := benchkit.RunReporting(writer, report); err != nil {
		return err
	}
	time.Sleep(time.Second) // let the follower and the viewers drain
	report()
	// Slow viewers would take many seconds to work through what they still
	// hold, so the tally is taken now and the process ends without them.
	last := prev
	wall := prevAt.Sub(start)

	cores := (last.CPU - first.CPU).Seconds() / wall.Seconds()
	fmt.Println()
	for i, v := range vs {
		kind := "fast"
		if i < nslow {
			kind = "slow"
		}
		if i == 0 || i == nslow {
			fmt.Printf("viewer %2d (%s): read %d lines, told of %d skipped, %d batches still queued\n",
				i, kind, v.read.Load(), v.skipped.Load(), len(v.sub.C))
		}
	}
	fmt.Printf("CPU: %.2fs over %.1fs = %.2f cores (target ≤ 0.50)\n", (last.CPU - first.CPU).Seconds(), wall.Seconds(), cores)
	fmt.Printf("RSS: start %.1f MB, middle %.1f MB, end %.1f MB\n",
		float64(rss[0])/(1<<20), float64(rss[len(rss)/2])/(1<<20), float64(rss[len(rss)-1])/(1<<20))
	return nil
}
