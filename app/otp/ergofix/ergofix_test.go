package ergofix

// The testdata files were recorded from real connections between deployex's
// node and OTP 25.2 (host), OTP 27.3 and Elixir 1.18 nodes (trixie chroot):
//
//	go test ./app/otp -run TestLinkUnlink -capture
//
// <kind>-dial-out.bin / -dial-in.bin are both directions of a connection
// deployex dialed, carrying link and unlink in both directions;
// <kind>-send-name.bin is the first message of the node dialing a peer.

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ergo-services/ergo/lib"
	"github.com/ergo-services/ergo/node"

	"deployex/app/otp/term"
)

var kinds = []string{"otp25", "otp27", "elixir27"}

const (
	flagDistHdrAtomCache = 0x2000
	flagHandshake23      = 0x1000000
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stream splits a recorded direction into its handshake messages (2-byte
// lengths; the last one is the 'a' or 'r' message) and its packets.
func stream(t *testing.T, b []byte, last byte) (handshake [][]byte, packets []byte) {
	t.Helper()
	for len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		msg := b[:2+n]
		handshake = append(handshake, msg)
		b = b[2+n:]
		if msg[2] == last {
			return handshake, b
		}
	}
	t.Fatalf("no '%c' message in the recording", last)
	return nil, nil
}

// frames splits packets and decodes the control message of each
// non-tick frame ('131 D 0' header, as both sides use without the atom cache).
func frames(t *testing.T, b []byte) (raw [][]byte, ctl []term.Tuple) {
	t.Helper()
	for len(b) > 0 {
		pkt, ok := nextPacket(b)
		if !ok {
			t.Fatalf("truncated packet in the recording: % x", b[:min(len(b), 16)])
		}
		b = b[len(pkt):]
		raw = append(raw, pkt)
		if len(pkt) == 4 {
			ctl = append(ctl, nil)
			continue
		}
		if !bytes.Equal(pkt[4:7], []byte{131, 'D', 0}) {
			t.Fatalf("packet without the plain dist header: % x", pkt[:min(len(pkt), 16)])
		}
		v, _, err := term.DecodeRaw(pkt[7:])
		if err != nil {
			t.Fatalf("control message: %v", err)
		}
		ctl = append(ctl, v.(term.Tuple))
	}
	return raw, ctl
}

func op(c term.Tuple) int64 {
	if len(c) == 0 {
		return -1
	}
	return c[0].(int64)
}

// TestRecordedWire checks what actually crossed the wire: deployex
// advertised UNLINK_ID and no atom cache, and spoke only UNLINK_ID.
func TestRecordedWire(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			out, outPkts := stream(t, readFile(t, kind+"-dial-out.bin"), 'r')
			in, inPkts := stream(t, readFile(t, kind+"-dial-in.bin"), 'a')
			if out[0][2] != 'N' {
				t.Fatalf("first message is '%c', want send_name 'N'", out[0][2])
			}
			ours := binary.BigEndian.Uint64(out[0][3:11])
			if ours&flagUnlinkID == 0 || ours&flagDistHdrAtomCache != 0 {
				t.Errorf("deployex flags %#x: want UNLINK_ID, no header atom cache", ours)
			}
			if string(in[0][2:]) != "sok" || in[1][2] != 'N' {
				t.Fatalf("node answered % x / %c", in[0], in[1][2])
			}
			theirs := binary.BigEndian.Uint64(in[1][3:11])
			if theirs&flagUnlinkID == 0 || theirs&flagDistHdrAtomCache == 0 {
				t.Errorf("node flags %#x: want UNLINK_ID and header atom cache", theirs)
			}

			count := func(ctl []term.Tuple, o int64) (n int) {
				for _, c := range ctl {
					if op(c) == o {
						n++
					}
				}
				return n
			}
			_, outCtl := frames(t, outPkts)
			_, inCtl := frames(t, inPkts)
			if count(outCtl, opUnlink) != 0 || count(outCtl, opUnlinkID) < 1 || count(outCtl, opUnlinkIDAck) < 1 {
				t.Errorf("deployex sent unlink/unlink_id/ack %d/%d/%d: want 0/≥1/≥1",
					count(outCtl, opUnlink), count(outCtl, opUnlinkID), count(outCtl, opUnlinkIDAck))
			}
			if count(inCtl, opUnlinkID) < 1 || count(inCtl, opUnlinkIDAck) < 1 {
				t.Errorf("node sent unlink_id/ack %d/%d: want ≥1/≥1", count(inCtl, opUnlinkID), count(inCtl, opUnlinkIDAck))
			}
		})
	}
}

// fakeConn feeds recorded bytes in random-sized pieces and records writes.
type fakeConn struct {
	in      []byte
	rnd     *rand.Rand
	written bytes.Buffer
}

func (f *fakeConn) Read(p []byte) (int, error) {
	if len(f.in) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(f.in), 1+f.rnd.IntN(40))
	copy(p, f.in[:n])
	f.in = f.in[n:]
	return n, nil
}

var _ lib.NetReadWriter = (*fakeConn)(nil)

func (f *fakeConn) Write(p []byte) (int, error)      { return f.written.Write(p) }
func (f *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// TestConnIncoming replays the node's packets through the filter, split at
// random points: ergo must see every packet in order, UNLINK_ID as UNLINK,
// no acks; the node must get an ack for each UNLINK_ID.
func TestConnIncoming(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			_, pkts := stream(t, readFile(t, kind+"-dial-in.bin"), 'a')
			raw, ctl := frames(t, pkts)
			fake := &fakeConn{in: pkts, rnd: rand.New(rand.NewPCG(1, uint64(len(pkts))))}
			c := NewConn(fake)
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}

			var want []byte
			var acks []term.Tuple
			for i, c := range ctl {
				switch op(c) {
				case opUnlinkID:
					want = appendPacket(want, []byte{131, 'D', 0}, term.Tuple{int64(opUnlink), c[2], c[3]}, nil)
					acks = append(acks, term.Tuple{int64(opUnlinkIDAck), c[1], c[3], c[2]})
				case opUnlinkIDAck:
				default:
					want = append(want, raw[i]...)
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("ergo read %d bytes, want %d", len(got), len(want))
			}
			_, sent := frames(t, fake.written.Bytes())
			if len(sent) != len(acks) || len(acks) == 0 {
				t.Fatalf("sent %d acks, want %d", len(sent), len(acks))
			}
			for i := range acks {
				if !term.Equal(sent[i], acks[i]) {
					t.Errorf("ack %v, want %v", sent[i], acks[i])
				}
			}
		})
	}
}

// TestConnOutgoing writes ergo-style packets (the recording with UNLINK_ID
// turned back into UNLINK) in random pieces: everything must leave in order,
// in whole packets, with each UNLINK numbered as an UNLINK_ID.
func TestConnOutgoing(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			_, pkts := stream(t, readFile(t, kind+"-dial-out.bin"), 'r')
			raw, ctl := frames(t, pkts)
			var fromErgo, want []byte
			var id int64
			for i, c := range ctl {
				if op(c) == opUnlinkID {
					id++
					fromErgo = appendPacket(fromErgo, []byte{131, 'D', 0}, term.Tuple{int64(opUnlink), c[2], c[3]}, nil)
					want = appendPacket(want, []byte{131, 'D', 0}, term.Tuple{int64(opUnlinkID), id, c[2], c[3]}, nil)
					continue
				}
				fromErgo = append(fromErgo, raw[i]...)
				want = append(want, raw[i]...)
			}
			fake := &fakeConn{}
			c := NewConn(fake)
			rnd := rand.New(rand.NewPCG(2, uint64(len(pkts))))
			for b := fromErgo; len(b) > 0; {
				n := min(len(b), 1+rnd.IntN(300))
				if k, err := c.Write(b[:n]); err != nil || k != n {
					t.Fatalf("write: %d, %v", k, err)
				}
				b = b[n:]
			}
			if !bytes.Equal(fake.written.Bytes(), want) {
				t.Fatalf("socket got %d bytes, want %d", fake.written.Len(), len(want))
			}
		})
	}
}

// peerScript plays the node's side of a handshake over a pipe.
type peerScript struct {
	t      *testing.T
	c      net.Conn
	cookie string
}

func (p *peerScript) read() []byte {
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(p.c, hdr); err != nil {
		p.t.Error(err)
		return nil
	}
	b := make([]byte, binary.BigEndian.Uint16(hdr))
	if _, err := io.ReadFull(p.c, b); err != nil {
		p.t.Error(err)
	}
	return b
}

func (p *peerScript) write(msg []byte) {
	if _, err := p.c.Write(msg); err != nil {
		p.t.Error(err)
	}
}

func message(body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
}

func digest(challenge uint32, cookie string) []byte {
	d := md5.Sum(fmt.Appendf(nil, "%s%d", cookie, challenge))
	return d[:]
}

func newHandshake(t *testing.T) *Handshake {
	h := NewHandshake(2 * time.Second)
	own := node.DefaultFlags()
	own.EnableHeaderAtomCache = false
	if err := h.Init("deployex@vm", 1, own); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestHandshakeAccept answers a recorded send_name from each runtime: the
// challenge must carry UNLINK_ID and the agreed flags must not include the
// atom cache the node offered.
func TestHandshakeAccept(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			sendName := readFile(t, kind+"-send-name.bin")
			a, b := net.Pipe()
			defer a.Close()
			p := &peerScript{t: t, c: b, cookie: "secret"}
			go func() {
				defer b.Close()
				p.write(sendName)
				if s := p.read(); string(s) != "sok" {
					t.Errorf("status %q", s)
				}
				ch := p.read()
				if ch[0] != 'N' || binary.BigEndian.Uint64(ch[1:9])&flagUnlinkID == 0 {
					t.Errorf("challenge without UNLINK_ID: % x", ch[:9])
				}
				ours := binary.BigEndian.Uint32(ch[9:13])
				p.write(message([]byte{'r', 0, 0, 0, 7}, digest(ours, p.cookie)))
				if ack := p.read(); len(ack) == 0 || ack[0] != 'a' || !bytes.Equal(ack[1:], digest(7, p.cookie)) {
					t.Errorf("ack % x", ack)
				}
			}()
			d, err := newHandshake(t).Accept(a.RemoteAddr(), a, false, p.cookie)
			if err != nil {
				t.Fatal(err)
			}
			if d.Name != string(sendName[17:]) {
				t.Errorf("details %+v", d)
			}
			if d.Flags.EnableHeaderAtomCache || !d.Flags.EnableBigCreation || !d.Flags.EnableFragmentation {
				t.Errorf("negotiated flags %+v", d.Flags)
			}
		})
	}
}

// TestHandshakeStart dials a scripted node that answers with the recorded
// challenge of each runtime.
func TestHandshakeStart(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			in, _ := stream(t, readFile(t, kind+"-dial-in.bin"), 'a')
			challenge := in[1] // 'N' with the node's real flags
			a, b := net.Pipe()
			defer a.Close()
			p := &peerScript{t: t, c: b, cookie: "secret"}
			go func() {
				defer b.Close()
				name := p.read()
				if name[0] != 'N' || binary.BigEndian.Uint64(name[1:9])&flagUnlinkID == 0 {
					t.Errorf("send_name without UNLINK_ID: % x", name[:9])
				}
				p.write(message([]byte("sok")))
				p.write(challenge)
				reply := p.read()
				theirs := binary.BigEndian.Uint32(challenge[11:15])
				if reply[0] != 'r' || !bytes.Equal(reply[5:], digest(theirs, p.cookie)) {
					t.Errorf("challenge reply % x", reply)
				}
				p.write(message([]byte{'a'}, digest(binary.BigEndian.Uint32(reply[1:5]), p.cookie)))
			}()
			d, err := newHandshake(t).Start(a.RemoteAddr(), a, false, p.cookie)
			if err != nil {
				t.Fatal(err)
			}
			if d.Flags.EnableHeaderAtomCache || !d.Flags.EnableAlias {
				t.Errorf("negotiated flags %+v", d.Flags)
			}
		})
	}
}

func TestAddUnlinkIDOnlyTouchesNameMessages(t *testing.T) {
	for _, m := range [][]byte{
		message([]byte("sok")),
		message([]byte{'r', 0, 0, 0, 1}, make([]byte, 16)),
		message([]byte{'N', 0}),                       // too short to hold flags
		[]byte{0, 99, 'N', 0, 0, 0, 0, 0, 0, 0, 0, 0}, // length does not match
	} {
		if _, ok := AddUnlinkID(m, false); ok {
			t.Errorf("changed % x", m)
		}
	}
	tlsName := append(binary.BigEndian.AppendUint32(nil, 15), 'N')
	tlsName = append(tlsName, make([]byte, 14)...)
	q, ok := AddUnlinkID(tlsName, true)
	if !ok || binary.BigEndian.Uint64(q[5:13]) != flagUnlinkID || tlsName[8] != 0 {
		t.Errorf("TLS-framed name: % x", q)
	}
}
