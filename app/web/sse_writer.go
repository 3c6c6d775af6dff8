package web

import (
	"bufio"
	"bytes"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// sseStallTimeout is how long a stream waits on a client that stopped
// reading before dropping it. fasthttp has no write timeout for a streamed
// body, so without one a stuck client would pin its goroutine and its
// subscription until TCP gives up, past shutdown. The memory it can hold
// meanwhile is bounded: fasthttp's pipe keeps four writes, the subscription
// its buffer.
const sseStallTimeout = 10 * time.Second

// sseSendBuffer caps the kernel's send buffer of a stream's connection.
// Autotuned, it grows to 4 MiB, which a client that stopped reading would
// pin, and which a quiet stream never fills, so the stall timeout would not
// start; 256 KiB still carries a log storm to a client 100 ms away.
const sseSendBuffer = 256 << 10

// sseIdlePing is how often a quiet log or host stream writes a comment: a
// write is the only way to notice that the client went away.
const sseIdlePing = time.Second

// sseWriter writes the events of one Server-Sent Events response.
type sseWriter struct {
	w    *bufio.Writer
	conn net.Conn
}

// streamSSE answers c with an event stream whose body stream writes. The
// *fiber.Ctx must not be used once stream runs, so handlers copy what they
// need out of it first.
func streamSSE(c *fiber.Ctx, stream func(*sseWriter)) {
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no")
	conn := c.Context().Conn()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetWriteBuffer(sseSendBuffer)
	}
	c.Context().SetBodyStreamWriter(fasthttp.StreamWriter(func(w *bufio.Writer) {
		// The connection may serve another request after the stream, which
		// must not inherit the stall deadline.
		defer conn.SetWriteDeadline(time.Time{})
		stream(&sseWriter{w: w, conn: conn})
	}))
}

// sseChunk bounds each write into fasthttp's pipe, which keeps up to four
// writes whatever their size: a stalled client then pins kilobytes, not a
// burst's worth of rendered lines.
const sseChunk = 4 << 10

// event writes one event whose data is the concatenation of parts; every
// line of it gets its own "data:" prefix, as the protocol requires. Errors
// surface at flush.
func (sw *sseWriter) event(name string, parts ...[]byte) {
	sw.w.WriteString("event: " + name + "\ndata: ")
	for _, part := range parts {
		first := true
		for line := range bytes.SplitSeq(part, []byte("\n")) {
			if !first {
				sw.w.WriteString("\ndata: ")
			}
			first = false
			for len(line) > 0 {
				n := min(len(line), sseChunk)
				sw.w.Write(line[:n])
				line = line[n:]
			}
		}
	}
	sw.w.WriteString("\n\n")
}

// ping writes a comment, which clients ignore.
func (sw *sseWriter) ping() { sw.w.WriteString(":\n\n") }

// flush sends what was written; an error means the client is gone (or
// stalled for sseStallTimeout) and the stream should end.
func (sw *sseWriter) flush() error {
	sw.conn.SetWriteDeadline(time.Now().Add(sseStallTimeout))
	return sw.w.Flush()
}
