package release

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// timeouts bound every call to a store. The per-call deadlines are the
// backstop; the transport ones make a dead or silent endpoint fail early
// and with a message that says which stage hung.
type timeouts struct {
	op       time.Duration // one current.json read, stat or listing, retries included
	download time.Duration // one whole tarball download
	stall    time.Duration // a download receiving no bytes for this long is abandoned
	dial     time.Duration
	header   time.Duration // from request sent to response headers
}

var defaultTimeouts = timeouts{
	op:       15 * time.Second,
	download: 30 * time.Minute,
	stall:    60 * time.Second,
	dial:     5 * time.Second,
	header:   10 * time.Second,
}

// applyTo sets the connection-level limits on an HTTP transport.
func (t timeouts) applyTo(tr *http.Transport) {
	tr.DialContext = (&net.Dialer{Timeout: t.dial, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = t.dial
	tr.ResponseHeaderTimeout = t.header
}

// transportKind recognises failures that never produced an answer from the
// store: refused or reset connections, DNS failures and timeouts.
func transportKind(err error) error {
	var netErr net.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, errStalled),
		errors.As(err, &opErr), errors.As(err, &dnsErr),
		errors.As(err, &netErr) && netErr.Timeout(),
		errors.Is(err, io.ErrUnexpectedEOF):
		return ErrUnreachable
	}
	return nil
}

// readLimited reads at most limit+1 bytes, so the caller can tell "exactly at
// the limit" from "over it" without reading a hostile body to its end.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, limit+1))
}
