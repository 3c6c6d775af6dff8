// Package ergofix adapts ergo v1.999.224's Erlang distribution to what OTP 25
// to 27 expect, through ergo's own extension points (node.Options.Handshake
// and node.Options.Proto) instead of a fork:
//
//   - OTP 26 made DFLAG_UNLINK_ID mandatory and ergo does not advertise it:
//     the handshake wrapper adds the flag, the proto wrapper speaks the
//     UNLINK_ID/UNLINK_ID_ACK signals on ergo's behalf.
//   - ergo keeps the peer's flags as the connection's flags instead of what
//     both sides agreed; with the header atom cache off on one side it keeps
//     sending cache references and the remote VM segfaults. The handshake
//     wrapper narrows the flags to the agreed set.
//
// Both wrappers depend on ergo's wire behaviour at the pinned version; the
// tests in this package replay bytes captured from real OTP 25 and 27 nodes.
package ergofix

import (
	"encoding/binary"
	"net"
	"time"

	"github.com/ergo-services/ergo/lib"
	"github.com/ergo-services/ergo/node"
	"github.com/ergo-services/ergo/proto/dist"
)

// flagUnlinkID is DFLAG_UNLINK_ID from erl_dist_protocol.
const flagUnlinkID = 0x2000000

// Handshake is ergo's version 6 handshake with the flag fixes described in
// the package comment.
type Handshake struct {
	node.HandshakeInterface
	own node.Flags
}

// NewHandshake wraps ergo's distribution handshake, pinned to version 6
// (OTP 25 silently closes version 5 handshakes from ergo).
func NewHandshake(timeout time.Duration) *Handshake {
	return &Handshake{HandshakeInterface: dist.CreateHandshake(dist.HandshakeOptions{
		Version: dist.HandshakeVersion6,
		Timeout: timeout,
	})}
}

// Init remembers the flags this node advertises: they bound the negotiated set.
func (h *Handshake) Init(nodename string, creation uint32, flags node.Flags) error {
	h.own = flags
	return h.HandshakeInterface.Init(nodename, creation, flags)
}

// Start dials a peer.
func (h *Handshake) Start(remote net.Addr, conn lib.NetReadWriter, tls bool, cookie string) (node.HandshakeDetails, error) {
	d, err := h.HandshakeInterface.Start(remote, &flagWriter{NetReadWriter: conn, tls: tls}, tls, cookie)
	d.Flags = Negotiate(h.own, d.Flags)
	return d, err
}

// Accept answers a peer that dialed this node.
func (h *Handshake) Accept(remote net.Addr, conn lib.NetReadWriter, tls bool, cookie string) (node.HandshakeDetails, error) {
	d, err := h.HandshakeInterface.Accept(remote, &flagWriter{NetReadWriter: conn, tls: tls}, tls, cookie)
	d.Flags = Negotiate(h.own, d.Flags)
	return d, err
}

// Negotiate returns the features both sides advertised: ergo's proto reads
// the connection flags to decide what it may send, so they must be the
// intersection, not the peer's set.
func Negotiate(own, peer node.Flags) node.Flags {
	return node.Flags{
		Enable:                true,
		EnableHeaderAtomCache: own.EnableHeaderAtomCache && peer.EnableHeaderAtomCache,
		EnableBigCreation:     own.EnableBigCreation && peer.EnableBigCreation,
		EnableBigPidRef:       own.EnableBigPidRef && peer.EnableBigPidRef,
		EnableFragmentation:   own.EnableFragmentation && peer.EnableFragmentation,
		EnableAlias:           own.EnableAlias && peer.EnableAlias,
		EnableRemoteSpawn:     own.EnableRemoteSpawn && peer.EnableRemoteSpawn,
		EnableCompression:     own.EnableCompression && peer.EnableCompression,
		EnableProxy:           own.EnableProxy && peer.EnableProxy,
	}
}

// flagWriter adds DFLAG_UNLINK_ID to the 'N' message (send_name when dialing,
// send_challenge when accepting). The flags are not part of the cookie
// digest, so changing them on the wire is safe.
type flagWriter struct {
	lib.NetReadWriter
	tls bool
}

func (w *flagWriter) Write(p []byte) (int, error) {
	if q, ok := AddUnlinkID(p, w.tls); ok {
		if _, err := w.NetReadWriter.Write(q); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return w.NetReadWriter.Write(p)
}

// AddUnlinkID returns a copy of the handshake message p with DFLAG_UNLINK_ID
// set when p is exactly one 'N' message (2-byte length, or 4 under TLS).
func AddUnlinkID(p []byte, tls bool) ([]byte, bool) {
	hdr := 2
	if tls {
		hdr = 4
	}
	if len(p) < hdr+9 || p[hdr] != 'N' {
		return nil, false
	}
	var n int
	if tls {
		n = int(binary.BigEndian.Uint32(p))
	} else {
		n = int(binary.BigEndian.Uint16(p))
	}
	if n != len(p)-hdr {
		return nil, false
	}
	q := append([]byte(nil), p...)
	flags := q[hdr+1 : hdr+9]
	binary.BigEndian.PutUint64(flags, binary.BigEndian.Uint64(flags)|flagUnlinkID)
	return q, true
}
