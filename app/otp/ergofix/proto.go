package ergofix

import (
	"context"
	"encoding/binary"
	"sync"

	"github.com/ergo-services/ergo/lib"
	"github.com/ergo-services/ergo/node"
	"github.com/ergo-services/ergo/proto/dist"

	"deployex/app/otp/term"
)

// Distribution control operations (erl_dist_protocol, "Protocol between
// connected nodes").
const (
	opUnlink      = 4
	opUnlinkID    = 35
	opUnlinkIDAck = 36
)

// Proto is ergo's distribution proto behind a connection filter that speaks
// UNLINK_ID for ergo, which only knows the old UNLINK signal. It also reports
// connections coming and going: ergo's own network event is unreliable once
// a process has started more than one node (its sender identity is a
// package-level variable that the last node overwrites).
type Proto struct {
	node.ProtoInterface
	notify func(peer string, conn node.ConnectionInterface, up bool)

	mu    sync.Mutex
	peers map[node.ConnectionInterface]string
}

// NewProto wraps ergo's proto. NumHandlers is forced to 1: with more, packets
// of one connection are decoded on several goroutines and arrive out of order.
// notify, if not nil, is called when a connection starts serving (up) and
// after ergo has forgotten it (down); conn tells connections to the same peer
// apart, since a new one can start before the old one is reported down.
func NewProto(opts node.ProtoOptions, notify func(peer string, conn node.ConnectionInterface, up bool)) *Proto {
	opts.NumHandlers = 1
	return &Proto{
		ProtoInterface: dist.CreateProto(opts),
		notify:         notify,
		peers:          make(map[node.ConnectionInterface]string),
	}
}

// Init puts the filter between ergo and the socket. Bytes that arrived along
// with the handshake are fed through the filter too, so packet framing stays
// in step from the first byte.
func (p *Proto) Init(ctx context.Context, conn lib.NetReadWriter, nodename string, details node.HandshakeDetails) (node.ConnectionInterface, error) {
	fc := NewConn(conn)
	if details.Buffer != nil {
		fc.in = append(fc.in, details.Buffer.B...)
		lib.ReleaseBuffer(details.Buffer)
		details.Buffer = nil
	}
	ci, err := p.ProtoInterface.Init(ctx, fc, nodename, details)
	if err == nil {
		p.mu.Lock()
		p.peers[ci] = details.Name
		p.mu.Unlock()
	}
	return ci, err
}

// Serve runs only for connections ergo registered (a losing duplicate of a
// simultaneous connect is closed without it), so it marks the peer up.
func (p *Proto) Serve(ci node.ConnectionInterface, router node.CoreRouter) {
	if p.notify != nil {
		p.notify(p.peer(ci, false), ci, true)
	}
	p.ProtoInterface.Serve(ci, router)
}

// Terminate runs after ergo unregistered the connection.
func (p *Proto) Terminate(ci node.ConnectionInterface) {
	p.ProtoInterface.Terminate(ci)
	name := p.peer(ci, true)
	if p.notify != nil {
		p.notify(name, ci, false)
	}
}

func (p *Proto) peer(ci node.ConnectionInterface, forget bool) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	name := p.peers[ci]
	if forget {
		delete(p.peers, ci)
	}
	return name
}

// Conn frames the {packet,4} distribution stream in both directions and
// rewrites unlink signals:
//   - incoming UNLINK_ID {35,Id,From,To} reaches ergo as UNLINK {4,From,To}
//     and is answered with UNLINK_ID_ACK {36,Id,To,From};
//   - incoming UNLINK_ID_ACK is dropped (ergo would not understand it);
//   - outgoing UNLINK {4,From,To} leaves as UNLINK_ID {35,Id,From,To}.
//
// Reads come from ergo's single reader goroutine; writes come from ergo's
// sender, its keepalive timer and the acks of the reader, hence the mutex.
type Conn struct {
	lib.NetReadWriter

	in     []byte // received bytes not yet framed
	out    []byte // framed, filtered bytes; out[outPos:] still waits for ergo
	outPos int
	rbuf   []byte
	rerr   error // read error held back until out is drained

	wmu      sync.Mutex
	wpending []byte // an outgoing packet ergo has only partly written
	nextID   uint64
}

// NewConn wraps a connection whose handshake is done.
func NewConn(c lib.NetReadWriter) *Conn {
	return &Conn{NetReadWriter: c}
}

func (c *Conn) Read(p []byte) (int, error) {
	for c.outPos == len(c.out) {
		c.out, c.outPos = c.out[:0], 0
		if c.rerr != nil {
			return 0, c.rerr
		}
		if c.rbuf == nil {
			c.rbuf = make([]byte, 64<<10)
		}
		n, err := c.NetReadWriter.Read(c.rbuf)
		c.in = append(c.in, c.rbuf[:n]...)
		if ferr := c.filterIn(); ferr != nil && err == nil {
			err = ferr
		}
		c.rerr = err
	}
	n := copy(p, c.out[c.outPos:])
	c.outPos += n
	return n, nil
}

// filterIn moves every complete packet from in to out, rewriting or dropping
// unlink signals on the way.
func (c *Conn) filterIn() error {
	rest := c.in
	var err error
	for {
		pkt, ok := nextPacket(rest)
		if !ok {
			break
		}
		rest = rest[len(pkt):]
		hdr, ctl, op := control(pkt)
		switch op {
		case opUnlinkID:
			id, from, to := ctl[1], ctl[2], ctl[3]
			c.out = appendPacket(c.out, hdr, term.Tuple{int64(opUnlink), from, to}, pkt)
			if werr := c.writeSignal(term.Tuple{int64(opUnlinkIDAck), id, to, from}); werr != nil {
				err = werr
			}
		case opUnlinkIDAck:
			// ergo never asked for it: it sent a plain UNLINK that we rewrote.
		default:
			c.out = append(c.out, pkt...)
		}
	}
	c.in = append(c.in[:0], rest...)
	return err
}

func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(c.wpending) == 0 && passThrough(p) {
		return writeAll(c.NetReadWriter, p, len(p))
	}
	c.wpending = append(c.wpending, p...)
	rest := c.wpending
	var out []byte
	for {
		pkt, ok := nextPacket(rest)
		if !ok {
			break
		}
		rest = rest[len(pkt):]
		if hdr, ctl, op := control(pkt); op == opUnlink {
			c.nextID++
			out = appendPacket(out, hdr, term.Tuple{int64(opUnlinkID), int64(c.nextID), ctl[1], ctl[2]}, pkt)
			continue
		}
		out = append(out, pkt...)
	}
	c.wpending = append(c.wpending[:0], rest...)
	return writeAll(c.NetReadWriter, out, len(p))
}

// writeSignal sends one control message between two whole packets of ergo's.
func (c *Conn) writeSignal(ctl term.Tuple) error {
	pkt := appendPacket(nil, []byte{131, 'D', 0}, ctl, nil)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := writeAll(c.NetReadWriter, pkt, len(pkt))
	return err
}

func writeAll(w lib.NetWriter, b []byte, reported int) (int, error) {
	for len(b) > 0 {
		n, err := w.Write(b)
		if err != nil {
			return 0, err
		}
		b = b[n:]
	}
	return reported, nil
}

// passThrough reports whether p is whole packets with nothing to rewrite, the
// common case that can go to the socket without copying.
func passThrough(p []byte) bool {
	for len(p) > 0 {
		pkt, ok := nextPacket(p)
		if !ok {
			return false
		}
		if _, _, op := control(pkt); op == opUnlink {
			return false
		}
		p = p[len(pkt):]
	}
	return true
}

// nextPacket returns the first complete {packet,4} frame of b, length included.
func nextPacket(b []byte) ([]byte, bool) {
	if len(b) < 4 {
		return nil, false
	}
	n := int(binary.BigEndian.Uint32(b))
	if len(b)-4 < n {
		return nil, false
	}
	return b[:4+n], true
}

// control classifies a frame. For the unlink signals it returns the
// distribution header (everything between the length and the control
// message) and the decoded control tuple; op is 0 for every other frame,
// including ticks, fragments and frames that use the atom cache (which
// deployex never negotiates, see Negotiate).
func control(pkt []byte) (hdr []byte, ctl term.Tuple, op int) {
	body := pkt[4:]
	var at int
	switch {
	case len(body) >= 3 && body[0] == 131 && body[1] == 'D' && body[2] == 0:
		at = 3
	case len(body) >= 1 && body[0] == 'p': // pass-through header
		at = 1
	default:
		return nil, nil, 0
	}
	// A cheap look at {SmallTuple, Arity, SmallInt, Op} keeps ordinary
	// messages away from the decoder.
	if len(body) < at+4 || body[at] != 104 || body[at+2] != 97 {
		return nil, nil, 0
	}
	switch o, arity := body[at+3], body[at+1]; {
	case o == opUnlink && arity == 3, o == opUnlinkID && arity == 4, o == opUnlinkIDAck && arity == 4:
	default:
		return nil, nil, 0
	}
	v, _, err := term.DecodeRaw(body[at:])
	if err != nil {
		return nil, nil, 0
	}
	t := v.(term.Tuple)
	return body[:at], t, int(t[0].(int64))
}

// appendPacket appends a frame made of hdr and ctl. Should ctl not encode
// (its parts all came out of the decoder, so it should), the original frame
// goes instead: ergo then fails on that one signal, not on a broken stream.
func appendPacket(b, hdr []byte, ctl term.Tuple, original []byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = append(b, hdr...)
	out, err := term.AppendRaw(b, ctl)
	if err != nil {
		return append(b[:start], original...)
	}
	binary.BigEndian.PutUint32(out[start:], uint32(len(out)-start-4))
	return out
}
