package otp

import (
	"context"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ergo-services/ergo/etf"
	"github.com/ergo-services/ergo/gen"
	"github.com/ergo-services/ergo/node"

	"deployex/app/otp/term"
)

var capture = flag.Bool("capture", false, "record wire bytes of TestLinkUnlink into ergofix/testdata")

// mailbox is a Go process that traps exits and hands its messages to a channel.
type mailbox struct {
	gen.Server
	got chan etf.Term
}

func (m *mailbox) Init(p *gen.ServerProcess, _ ...etf.Term) error {
	p.SetTrapExit(true)
	return nil
}

func (m *mailbox) HandleInfo(_ *gen.ServerProcess, msg etf.Term) gen.ServerStatus {
	m.got <- msg
	return gen.ServerStatusOK
}

func toEtfPid(p term.Pid) etf.Pid {
	return etf.Pid{Node: etf.Atom(p.Node), ID: uint64(p.ID) | uint64(p.Serial)<<32, Creation: p.Creation}
}

func toTermPid(p etf.Pid) term.Pid {
	return term.Pid{Node: term.Atom(p.Node), ID: uint32(p.ID), Serial: uint32(p.ID >> 32), Creation: p.Creation}
}

// eventually retries check for a second: links are asynchronous signals.
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if check() {
			return
		}
	}
	t.Fatalf("%s: not within 1s", what)
}

// TestLinkUnlink links and unlinks in both directions. Against OTP 26+ each
// unlink is an UNLINK_ID exchange that ergo alone cannot speak: without
// package ergofix the connection drops at the first unlink.
func TestLinkUnlink(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.String(), func(t *testing.T) {
			f := newFixture(t, nil)
			n := f.n
			peer := f.beam(kind, "linker").FullName()
			var rec *recorder
			if *capture {
				rec = relay(t, n, peer, f.port)
			}
			ctx := context.Background()

			box := &mailbox{got: make(chan etf.Term, 10)}
			proc, err := n.ergo.Spawn("", gen.ProcessOptions{}, box)
			if err != nil {
				t.Fatal(err)
			}
			self := toTermPid(proc.Self())

			if _, err := n.Eval(ctx, peer, `register(dx_peer, spawn(fun Loop() ->
				receive {link, P} -> link(P); {unlink, P} -> unlink(P); {exit, R} -> exit(R) end,
				Loop() end)), ok.`); err != nil {
				t.Fatal(err)
			}
			v, err := n.Eval(ctx, peer, `whereis(dx_peer).`)
			if err != nil {
				t.Fatal(err)
			}
			remote := v.(term.Pid)
			remoteLinks := func() []any {
				v, err := n.Eval(ctx, peer, `element(2, process_info(whereis(dx_peer), links)).`)
				if err != nil {
					t.Fatal(err)
				}
				return v.([]any)
			}
			linkedHere := func() bool { return len(proc.Links()) == 1 && proc.Links()[0] == toEtfPid(remote) }
			send := func(msg term.Tuple) {
				if _, err := n.Call(ctx, peer, "erlang", "send", term.Atom("dx_peer"), msg); err != nil {
					t.Fatal(err)
				}
			}
			stillUp := func(step string) {
				if err := n.Probe(ctx, peer); err != nil || !n.Connected(peer) {
					f.ev.mu.Lock()
					t.Fatalf("after %s the connection is gone: %v nodes=%v events=%v map=%v", step, err, n.ergo.Nodes(), f.ev.all, n.connected)
				}
			}

			// Go → node.
			if err := proc.Link(toEtfPid(remote)); err != nil {
				t.Fatal(err)
			}
			eventually(t, "link from Go seen by the node", func() bool { l := remoteLinks(); return len(l) == 1 && l[0] == self })
			if err := proc.Unlink(toEtfPid(remote)); err != nil {
				t.Fatal(err)
			}
			eventually(t, "unlink from Go seen by the node", func() bool { return len(remoteLinks()) == 0 })
			stillUp("an unlink from Go")

			// Node → Go.
			send(term.Tuple{term.Atom("link"), self})
			eventually(t, "link from the node seen by Go", linkedHere)
			send(term.Tuple{term.Atom("unlink"), self})
			eventually(t, "unlink from the node seen by Go", func() bool { return len(proc.Links()) == 0 })
			stillUp("an unlink from the node")

			// The link still works after all that: an exit reaches Go.
			send(term.Tuple{term.Atom("link"), self})
			eventually(t, "second link", linkedHere)
			send(term.Tuple{term.Atom("exit"), term.Atom("boom")})
			select {
			case msg := <-box.got:
				if ex, ok := msg.(gen.MessageExit); !ok || ex.Reason != "boom" {
					t.Errorf("got %#v, want an exit with reason boom", msg)
				}
			case <-time.After(2 * time.Second):
				t.Error("exit of the linked node process never reached Go")
			}
			stillUp("the linked exit")

			if rec != nil {
				rec.sendName = captureSendName(t, f, peer)
				rec.save(t, kind.String())
			}
		})
	}
}

// recorder keeps both directions of one relayed connection.
type recorder struct {
	mu       sync.Mutex
	in, out  []byte // in: node → deployex, out: deployex → node
	sendName []byte // the first handshake message of the node dialing out
}

// captureSendName registers a fake node "capture" with epmd, makes peer dial
// it and returns the first message peer sends: its send_name.
func captureSendName(t *testing.T, f *fixture, peer string) []byte {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lport := l.Addr().(*net.TCPAddr).Port
	e, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(f.port))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// ALIVE2_REQ: port, normal node, TCP, versions 6..5, name, no extra.
	name := "capture"
	req := []byte{120, byte(lport >> 8), byte(lport), 77, 0, 0, 6, 0, 5, 0, byte(len(name))}
	req = append(append(req, name...), 0, 0)
	if _, err := e.Write(append([]byte{0, byte(len(req))}, req...)); err != nil {
		t.Fatal(err)
	}
	resp := make([]byte, 8)
	if _, err := io.ReadAtLeast(e, resp, 2); err != nil || resp[1] != 0 {
		t.Fatalf("epmd refused the capture name: % x %v", resp, err)
	}
	got := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		hdr := make([]byte, 2)
		if _, err := io.ReadFull(c, hdr); err != nil {
			got <- nil
			return
		}
		body := make([]byte, int(hdr[0])<<8|int(hdr[1]))
		_, err = io.ReadFull(c, body)
		if err != nil {
			got <- nil
			return
		}
		got <- append(hdr, body...)
	}()
	host := peer[strings.Index(peer, "@"):]
	if _, err := f.n.Eval(context.Background(), peer, "net_adm:ping('capture"+host+"')."); err != nil {
		t.Fatal(err)
	}
	b := <-got
	if b == nil {
		t.Fatal("no send_name captured")
	}
	return b
}

// relay routes deployex's connection to peer through a local TCP relay that
// records the bytes, for the ergofix replay tests.
func relay(t *testing.T, n *Node, peer string, epmdPort int) *recorder {
	t.Helper()
	names, err := EPMDNames(epmdPort)
	if err != nil {
		t.Fatal(err)
	}
	short, _, _ := strings.Cut(peer, "@")
	var target string
	for _, line := range strings.Split(names, "\n") {
		if f := strings.Fields(line); len(f) == 5 && f[1] == short {
			target = "127.0.0.1:" + f[4]
		}
	}
	if target == "" {
		t.Fatalf("%s not in epmd: %q", peer, names)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	rec := &recorder{}
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			return
		}
		copyRec := func(dst, src net.Conn, buf *[]byte) {
			b := make([]byte, 64<<10)
			for {
				k, err := src.Read(b)
				rec.mu.Lock()
				*buf = append(*buf, b[:k]...)
				rec.mu.Unlock()
				if _, werr := dst.Write(b[:k]); err != nil || werr != nil {
					dst.Close()
					src.Close()
					return
				}
			}
		}
		go copyRec(up, c, &rec.out)
		copyRec(c, up, &rec.in)
	}()
	relayPort, _ := strconv.Atoi(strings.TrimPrefix(l.Addr().String(), "127.0.0.1:"))
	if n.Connected(peer) {
		if err := n.ergo.Disconnect(peer); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.ergo.AddStaticRoutePort(peer, uint16(relayPort), node.RouteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := n.Connect(context.Background(), peer); err != nil {
		t.Fatal(err)
	}
	return rec
}

func (r *recorder) save(t *testing.T, prefix string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dir := filepath.Join("ergofix", "testdata")
	for name, b := range map[string][]byte{
		prefix + "-dial-in.bin":   r.in,
		prefix + "-dial-out.bin":  r.out,
		prefix + "-send-name.bin": r.sendName,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("recorded %d bytes in, %d bytes out", len(r.in), len(r.out))
}
