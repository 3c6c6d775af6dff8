// Package logtail follows the replicas' log files for the live log pages and
// serves "the last N lines" of them.
//
// One reader goroutine follows each file, however many pages watch it, and
// only while at least one does. Lines reach viewers in batches through an
// events.Hub, so a viewer that falls behind loses lines (and is told how
// many) instead of slowing the reader, and memory stays bounded under a log
// storm: a viewer holds at most its buffer of batches, each at most 1024
// lines of one 64 KiB read (plus the start of a line begun in the read
// before). Files are polled, not watched: a stat per file per interval costs
// nothing measurable, and it sees rotation, deletion and truncation the same
// way on every filesystem.
package logtail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"deployex/app/events"
)

// DefaultInterval is how often a followed file is checked for new data.
const DefaultInterval = 200 * time.Millisecond

// ErrClosed is returned by Subscribe after Close.
var ErrClosed = errors.New("logtail: tailer closed")

// Line is one line of a followed file.
type Line struct {
	// Text is the line as written, without its newline: it may hold escape
	// sequences and invalid UTF-8. Show it through Sanitize.
	Text string
	// Cut marks a MaxLineBytes piece of a longer line; the next line
	// continues it.
	Cut bool
}

// Batch is a run of consecutive lines of one file, as one read found them.
// Lines travel in batches because a log storm arrives in bursts (a poll's
// worth at a time): a viewer buffering batches absorbs a burst that would
// overflow a buffer of single lines, and the web sends one event per batch.
// A Batch and its Lines are shared by all viewers: do not modify them.
type Batch struct {
	// Key is the Source.Key of the file.
	Key string
	// Seq numbers the lines of a followed file 1, 2, 3… across rotations:
	// Lines[i] is line Seq+i. A jump means the viewer lost lines (see
	// Subscription.Skipped). Backlog batches have Seq 0.
	Seq   uint64
	Lines []Line
}

// Source names a file to follow. Key identifies it in batches (for example
// "myapp-1-stdout"); a Key always means the same Path.
type Source struct {
	Key  string
	Path string
}

// Tailer owns the followers and the hub their lines go out on.
type Tailer struct {
	log      *slog.Logger
	interval time.Duration
	hub      *events.Hub[Batch]
	wg       sync.WaitGroup

	mu        sync.Mutex
	followers map[string]*follower
	subs      map[*Subscription]struct{}
	closed    bool
}

// Option changes a Tailer's defaults.
type Option func(*Tailer)

// WithInterval sets how often followed files are polled.
func WithInterval(d time.Duration) Option { return func(t *Tailer) { t.interval = d } }

// New returns a Tailer that follows nothing until someone subscribes.
func New(log *slog.Logger, opts ...Option) *Tailer {
	t := &Tailer{
		log:       log,
		interval:  DefaultInterval,
		hub:       events.NewHub[Batch](),
		followers: map[string]*follower{},
		subs:      map[*Subscription]struct{}{},
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Subscribe starts following sources (sharing any follower already running)
// and returns a subscription whose C receives their new lines, with room for
// buffer batches (16 to 64 is plenty: a batch is one read of up to 64 KiB,
// and a poll every 200 ms makes few). Backlog holds up to backlog lines per source that were in
// the files just before the first line C will deliver: no line is in both,
// and none falls between. A file that does not exist yet is followed from
// its start once it appears; one that exists is followed from its end.
func (t *Tailer) Subscribe(backlog, buffer int, sources ...Source) (*Subscription, error) {
	if len(sources) == 0 {
		return nil, errors.New("logtail: subscribe to no source")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	// Each Key once, and always for the same Path.
	keys := make([]string, 0, len(sources))
	uniq := make([]Source, 0, len(sources))
	for _, src := range sources {
		path, dup := src.Path, false
		if f := t.followers[src.Key]; f != nil {
			path = f.path
		}
		if i := slices.Index(keys, src.Key); i >= 0 {
			path, dup = uniq[i].Path, true
		}
		if path != src.Path {
			return nil, fmt.Errorf("logtail: key %q follows %s, not %s", src.Key, path, src.Path)
		}
		if !dup {
			keys = append(keys, src.Key)
			uniq = append(uniq, src)
		}
	}

	s := &Subscription{t: t, seen: make(map[string]uint64, len(keys))}
	for _, src := range uniq {
		f := t.followers[src.Key]
		if f == nil {
			f = t.start(src)
		}
		f.refs++
		s.fs = append(s.fs, f)
	}
	// Holding every follower's lock while subscribing pins their positions,
	// which is what makes the backlog and the live lines meet exactly.
	// t.mu serialises this, so taking several at once cannot deadlock.
	for _, f := range s.fs {
		f.mu.Lock()
	}
	for _, f := range s.fs {
		s.seen[f.key] = f.seq
		s.Backlog = append(s.Backlog, f.backlog(backlog))
	}
	s.sub = t.hub.Subscribe(buffer, func(b Batch) bool { return slices.Contains(keys, b.Key) })
	for _, f := range s.fs {
		f.mu.Unlock()
	}
	s.C = s.sub.C
	t.subs[s] = struct{}{}
	return s, nil
}

// start launches the follower for src. The caller holds t.mu.
func (t *Tailer) start(src Source) *follower {
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{
		key:      src.Key,
		path:     src.Path,
		log:      t.log.With("key", src.Key, "path", src.Path),
		hub:      t.hub,
		interval: t.interval,
		cancel:   cancel,
		buf:      make([]byte, blockSize),
	}
	// Open now, not in the goroutine, so the subscriber's backlog ends
	// exactly where the follower starts.
	f.openAt(true)
	t.followers[src.Key] = f
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f.run(ctx)
	}()
	return f
}

// Close stops every follower, closes every subscription's C and waits for
// the readers to finish.
func (t *Tailer) Close() {
	t.mu.Lock()
	t.closed = true
	for s := range t.subs {
		s.sub.Close()
	}
	for _, f := range t.followers {
		f.cancel()
	}
	clear(t.subs)
	clear(t.followers)
	t.mu.Unlock()
	t.wg.Wait()
}

// Subscription is one viewer's stream of lines. Its methods other than
// Close are meant for the one goroutine that reads C.
type Subscription struct {
	// C delivers new lines, in file order per Key. It is closed by Close
	// and by Tailer.Close.
	C <-chan Batch
	// Backlog is what the files held when the subscription began: one
	// batch per source, in the order given to Subscribe.
	Backlog []Batch

	t    *Tailer
	sub  *events.Sub[Batch]
	fs   []*follower
	seen map[string]uint64 // per Key, the Seq of the last line accounted for
	once sync.Once
}

// Skipped records b as read and returns how many lines of its file were
// lost just before it: show "skipped N lines" above b when it is not 0. Call
// it for every batch, as soon as it is received.
func (s *Subscription) Skipped(b Batch) uint64 {
	if b.Seq == 0 { // a backlog batch
		return 0
	}
	last := s.seen[b.Key]
	s.seen[b.Key] = b.Seq + uint64(len(b.Lines)) - 1
	if b.Seq > last+1 {
		return b.Seq - last - 1
	}
	return 0
}

// Behind returns how many lines were lost after the last batch read and
// counts them as reported, so the end of a burst shows up without waiting
// for the next line (Skipped will not count them again). Call it when C
// looks empty, on an idle tick say; while C still holds batches it
// returns 0.
func (s *Subscription) Behind() uint64 {
	var n uint64
	for _, f := range s.fs {
		// The follower publishes under f.mu, so while it is held an empty
		// C means every line up to f.seq was either read or dropped.
		f.mu.Lock()
		if len(s.C) == 0 {
			n += f.seq - s.seen[f.key]
			s.seen[f.key] = f.seq
		}
		f.mu.Unlock()
	}
	return n
}

// Close ends the subscription; a follower nobody else watches stops. It is
// safe to call more than once.
func (s *Subscription) Close() {
	s.once.Do(func() {
		t := s.t
		t.mu.Lock()
		defer t.mu.Unlock()
		s.sub.Close()
		if t.closed {
			return
		}
		delete(t.subs, s)
		for _, f := range s.fs {
			if f.refs--; f.refs == 0 {
				f.cancel()
				delete(t.followers, f.key)
			}
		}
	})
}
