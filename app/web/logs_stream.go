package web

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"deployex/app/logtail"
	"deployex/views"
)

// logBuffer is how many batches (reads of up to 64 KiB) a viewer may fall
// behind before it loses lines rather than slow the follower.
const logBuffer = 32

// streamLogs follows sources for one viewer over SSE, with the lines
// rendered by the page's own partial. The first event, "reset", holds the
// last backlog lines of each file, so a reconnecting page replaces what it
// shows and neither loses nor repeats a line; then each batch of new lines
// is a "lines" event, led by a "skipped N lines" marker where the viewer
// fell behind. Labelled lines carry their file's label, for pages that
// follow several files.
func (s *Server) streamLogs(c *fiber.Ctx, backlog int, labelled bool, sources []logSource) error {
	files := make([]logtail.Source, len(sources))
	labels := make(map[string]string, len(sources))
	for i, src := range sources {
		files[i] = src.Source
		if labelled {
			labels[src.Key] = src.label
		}
	}
	sub, err := s.Tailer.Subscribe(backlog, logBuffer, files...)
	if errors.Is(err, logtail.ErrClosed) {
		return fiber.NewError(fiber.StatusServiceUnavailable, "deployex is shutting down")
	}
	if err != nil {
		return err
	}
	streamSSE(c, func(w *sseWriter) {
		defer sub.Close()
		v := &logViewer{w: w, sub: sub, cache: s.logHTML, labels: labels}
		v.reset()
		if w.flush() != nil {
			return
		}
		tick := time.NewTicker(sseIdlePing)
		defer tick.Stop()
		sent := false // since the last tick
		for {
			select {
			case <-s.done:
				return
			case b, ok := <-sub.C:
				if !ok {
					return
				}
				v.lines(b)
				// Whatever else is queued goes out in the same write.
				for queued := len(sub.C); queued > 0; queued-- {
					if b, ok = <-sub.C; !ok {
						return
					}
					v.lines(b)
				}
				sent = true
			case <-tick.C:
				// A burst's losses show up now, not with the next line.
				if n := sub.Behind(); n > 0 {
					w.event("lines", v.skipped(n))
				} else if !sent {
					w.ping()
				}
				sent = false
			}
			if w.flush() != nil {
				return
			}
		}
	})
	return nil
}

// logViewer turns one viewer's batches into SSE events.
type logViewer struct {
	w      *sseWriter
	sub    *logtail.Subscription
	cache  *logHTMLCache
	labels map[string]string // by Source.Key; empty when lines are not labelled
	buf    bytes.Buffer
}

// reset sends the backlog, which is this viewer's own copy of the lines.
func (v *logViewer) reset() {
	v.buf.Reset()
	for _, b := range v.sub.Backlog {
		// Rendering into a bytes.Buffer cannot fail.
		_ = views.LogLines(v.labels[b.Key], b.Lines).Render(context.Background(), &v.buf)
	}
	v.w.event("reset", v.buf.Bytes())
}

func (v *logViewer) lines(b logtail.Batch) {
	var marker []byte
	if n := v.sub.Skipped(b); n > 0 {
		marker = v.skipped(n)
	}
	v.w.event("lines", marker, v.cache.render(v.labels[b.Key], b.Lines))
}

// skipped renders the marker into the viewer's buffer, valid until its next use.
func (v *logViewer) skipped(n uint64) []byte {
	v.buf.Reset()
	_ = views.LogSkipped(n).Render(context.Background(), &v.buf)
	return v.buf.Bytes()
}
