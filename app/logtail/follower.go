package logtail

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"deployex/app/events"
)

const (
	// maxPollBytes bounds one poll, so a writer faster than the reader
	// cannot keep it from noticing rotation or being stopped.
	maxPollBytes = 64 * blockSize
	// partialPolls is how many idle polls an unfinished last line waits for
	// its newline before it is published as it is (a prompt, a crash
	// mid-write), so nothing stays hidden.
	partialPolls = 5
	// maxBatch bounds the lines in one Batch, so that a read of 64 KiB of
	// empty lines does not make one message of 64 Ki lines.
	maxBatch = 1024
)

// follower reads one file. Only its goroutine reads and changes the fields
// below mu, except that Subscribe reads seq and the backlog under mu.
type follower struct {
	key, path string
	log       *slog.Logger
	hub       *events.Hub[Batch]
	interval  time.Duration
	cancel    context.CancelFunc
	refs      int // guarded by Tailer.mu

	buf     []byte // one read
	idle    int    // polls since data last arrived
	lastErr string // so a persistent error is logged once

	mu      sync.Mutex
	file    *os.File // nil while the path does not exist
	info    os.FileInfo
	pos     int64  // end of what has been read
	partial string // read but not yet published: the unfinished last line
	seq     uint64
}

func (f *follower) run(ctx context.Context) {
	defer f.closeFile()
	tick := time.NewTicker(f.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for f.poll() && ctx.Err() == nil {
		}
	}
}

// poll checks the path once and reads what is new. It reports whether it
// stopped at maxPollBytes with more to read.
func (f *follower) poll() bool {
	st, err := os.Stat(f.path)
	switch {
	case err != nil:
		if f.file != nil {
			f.finish("log file gone")
		}
		if !errors.Is(err, fs.ErrNotExist) {
			f.report(err)
		}
		return false
	case f.file != nil && !os.SameFile(st, f.info):
		f.finish("log file rotated")
	case f.file != nil && st.Size() < f.pos:
		f.log.Info("log file truncated", "size", st.Size(), "offset", f.pos)
		f.mu.Lock()
		f.flush()
		f.pos = 0
		f.mu.Unlock()
	}
	if f.file == nil && !f.openAt(false) {
		return false
	}
	more, n := f.read()
	if n > 0 {
		f.idle = 0
	} else if f.idle++; f.idle == partialPolls {
		f.mu.Lock()
		f.flush()
		f.mu.Unlock()
	}
	return more
}

// openAt opens the path and starts at its end (a file already there when a
// viewer arrives) or at its start (one that appeared or replaced another).
// "The end" is the start of an unfinished last line, so that line goes out
// whole once it is done, and not half in the backlog.
func (f *follower) openAt(end bool) bool {
	file, err := os.Open(f.path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			f.report(err)
		}
		return false
	}
	info, err := file.Stat()
	if err != nil {
		file.Close()
		f.report(err)
		return false
	}
	f.lastErr = ""
	f.mu.Lock()
	defer f.mu.Unlock()
	f.file, f.info, f.pos = file, info, 0
	if end {
		f.pos = lastLineStart(file, info.Size(), f.buf)
	} else {
		f.log.Info("following new log file")
	}
	return true
}

// finish reads what was appended to the current file before it went away,
// publishes its unfinished line and closes it.
func (f *follower) finish(why string) {
	for more := true; more; more, _ = f.read() {
	}
	f.log.Info(why, "offset", f.pos)
	f.mu.Lock()
	f.flush()
	f.mu.Unlock()
	f.closeFile()
}

func (f *follower) closeFile() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.file != nil {
		f.file.Close()
		f.file, f.info, f.pos, f.partial = nil, nil, 0, ""
	}
}

// read publishes the lines appended since the last read, up to
// maxPollBytes. It returns whether it stopped at that limit and how many
// bytes it read.
func (f *follower) read() (more bool, total int) {
	for total < maxPollBytes {
		n, err := f.file.ReadAt(f.buf, f.pos)
		if n > 0 {
			f.mu.Lock()
			f.consume(f.buf[:n])
			f.mu.Unlock()
			total += n
		}
		if err != nil {
			if err != io.EOF {
				f.report(err)
			}
			return false, total
		}
	}
	return true, total
}

// consume publishes the complete lines of data and keeps the unfinished
// rest. The caller holds mu.
func (f *follower) consume(data []byte) {
	f.pos += int64(len(data))
	text := string(data) // one allocation per read: the lines are slices of it
	var lines []Line
	for {
		i := strings.IndexByte(text, '\n')
		if i < 0 {
			break
		}
		lines, _ = appendPieces(lines, f.partial+text[:i], true)
		f.partial, text = "", text[i+1:]
	}
	lines, f.partial = appendPieces(lines, f.partial+text, false)
	f.publish(lines)
}

// flush publishes the unfinished last line as it is: its file went away or
// its writer went quiet. The caller holds mu.
func (f *follower) flush() {
	if f.partial != "" {
		lines, _ := appendPieces(nil, f.partial, true)
		f.partial = ""
		f.publish(lines)
	}
}

// appendPieces appends line to lines, cut into MaxLineBytes pieces. An
// unfinished line keeps its last piece back as rest, to be continued.
func appendPieces(lines []Line, line string, complete bool) (_ []Line, rest string) {
	for len(line) > MaxLineBytes {
		i := pieceEnd(line, MaxLineBytes)
		lines = append(lines, Line{Text: line[:i], Cut: true})
		line = line[i:]
	}
	if !complete {
		return lines, line
	}
	return append(lines, Line{Text: line}), ""
}

// publish sends lines out in batches of at most maxBatch. The caller holds mu.
func (f *follower) publish(lines []Line) {
	for len(lines) > 0 {
		n := min(len(lines), maxBatch)
		f.hub.Publish(Batch{Key: f.key, Seq: f.seq + 1, Lines: lines[:n:n]})
		f.seq += uint64(n)
		lines = lines[n:]
	}
}

// backlog returns the last n lines before the follower's position, which
// is where the next published batch begins. The caller holds mu.
func (f *follower) backlog(n int) Batch {
	if f.file == nil || n <= 0 {
		return Batch{Key: f.key}
	}
	texts, err := lastLines(f.file, f.pos-int64(len(f.partial)), n)
	if err != nil {
		f.log.Warn("read log backlog", "err", err)
		return Batch{Key: f.key}
	}
	b := Batch{Key: f.key, Lines: make([]Line, len(texts))}
	for i, text := range texts {
		b.Lines[i].Text = text
	}
	return b
}

func (f *follower) report(err error) {
	if msg := err.Error(); msg != f.lastErr {
		f.lastErr = msg
		f.log.Warn("follow log file", "err", err)
	}
}
