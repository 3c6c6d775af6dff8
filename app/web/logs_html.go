package web

import (
	"bytes"
	"context"
	"sync"

	"deployex/app/logtail"
	"deployex/views"
)

// logHTMLSize is how many rendered batches are kept. Every viewer of a file
// receives the same batch at about the same time, so a few dozen cover
// viewers that lag by up to their whole buffer (logBuffer batches).
const logHTMLSize = 2 * logBuffer

// logHTMLCache renders each published batch once for all its viewers:
// batches are shared by every subscriber of a file, so under a storm twenty
// viewers cost one rendering (and one lot of garbage), not twenty.
type logHTMLCache struct {
	mu      sync.Mutex
	entries map[logHTMLKey]*logHTML
	ring    [logHTMLSize]logHTMLKey // insertion order, for eviction
	next    int
}

// logHTMLKey identifies a batch by its shared backing array (which the
// entry keeps alive, so the address cannot be reused meanwhile) and the
// label the page puts before its lines.
type logHTMLKey struct {
	first *logtail.Line
	label string
}

type logHTML struct {
	once  sync.Once
	lines []logtail.Line // pins the key's address
	html  []byte
}

func newLogHTMLCache() *logHTMLCache {
	return &logHTMLCache{entries: make(map[logHTMLKey]*logHTML, logHTMLSize)}
}

// render returns the HTML of a live batch's lines, labelled or not.
func (c *logHTMLCache) render(label string, lines []logtail.Line) []byte {
	if len(lines) == 0 {
		return nil
	}
	k := logHTMLKey{first: &lines[0], label: label}
	c.mu.Lock()
	e := c.entries[k]
	if e == nil {
		e = &logHTML{lines: lines}
		delete(c.entries, c.ring[c.next])
		c.ring[c.next] = k
		c.next = (c.next + 1) % logHTMLSize
		c.entries[k] = e
	}
	c.mu.Unlock()
	e.once.Do(func() {
		var buf bytes.Buffer
		// Rendering into a bytes.Buffer cannot fail.
		_ = views.LogLines(label, lines).Render(context.Background(), &buf)
		e.html = buf.Bytes()
	})
	return e.html
}
