package otp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ergo-services/ergo/etf"
	"github.com/ergo-services/ergo/gen"
)

// ErrNodeDown is returned by calls whose node disconnected before answering.
var ErrNodeDown = errors.New("otp: node went down during the call")

// courier is one ergo process that carries every remote call. Callers wait on their own channel, keyed by the call's
// reference, so any number of calls can be in flight and each one can stop
// waiting when its context ends (ergo's gen.Server calls only take whole
// seconds and allow one at a time per process).
type courier struct {
	n    *Node
	proc gen.Process

	refNode     etf.Atom
	refCreation uint32
	refSalt     uint32
	seq         atomic.Uint64
	inflight    atomic.Int32 // calls sent and not yet answered

	mu      sync.Mutex
	pending map[etf.Ref]*pendingCall
}

type pendingCall struct {
	node  string
	reply chan callReply
}

type callReply struct {
	value etf.Term
	err   error
}

// mailboxSize is ergo's per-process queue length; messages beyond it are
// dropped, so it is far above any realistic number of calls in flight.
const mailboxSize = 8192

func startCourier(n *Node) (*courier, error) {
	c := &courier{n: n, pending: make(map[etf.Ref]*pendingCall), refSalt: rand.Uint32()}
	proc, err := n.ergo.Spawn("deployex_courier", gen.ProcessOptions{MailboxSize: mailboxSize}, c)
	if err != nil {
		return nil, fmt.Errorf("otp: spawn courier: %w", err)
	}
	c.proc = proc
	r := proc.MakeRef()
	c.refNode, c.refCreation = r.Node, r.Creation
	return c, nil
}

// ProcessInit implements gen.ProcessBehavior.
func (c *courier) ProcessInit(p gen.Process, _ ...etf.Term) (gen.ProcessState, error) {
	return gen.ProcessState{Process: p}, nil
}

// ProcessLoop implements gen.ProcessBehavior.
func (c *courier) ProcessLoop(ps gen.ProcessState, started chan<- bool) string {
	ch := ps.ProcessChannels()
	started <- true
	for {
		select {
		case m := <-ch.Mailbox:
			c.handle(m.Message)
		case d := <-ch.Direct:
			ps.PutSyncReply(d.Ref, nil, errors.New("courier takes no direct requests"))
		case ex := <-ch.GracefulExit:
			return ex.Reason
		case <-ps.Context().Done():
			return "kill"
		}
	}
}

// handle delivers gen_server replies, {Ref, Reply}, to their callers.
func (c *courier) handle(msg any) {
	if m, ok := msg.(etf.Tuple); ok && len(m) == 2 {
		if ref, ok := m[0].(etf.Ref); ok {
			c.mu.Lock()
			p := c.pending[ref]
			delete(c.pending, ref)
			c.mu.Unlock()
			if p != nil {
				p.reply <- callReply{value: m[1]}
			}
			return
		}
	}
	c.n.log.Debug("courier ignored a message", "message", fmt.Sprintf("%.200v", msg))
}

// failNode ends the calls to a node that is gone: its answers can no longer come.
func (c *courier) failNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ref, p := range c.pending {
		if p.node == name {
			delete(c.pending, ref)
			p.reply <- callReply{err: ErrNodeDown}
		}
	}
}

// newRef makes a reference unique for this node's lifetime; ergo's MakeRef
// wraps around after 2^18 references.
func (c *courier) newRef() etf.Ref {
	s := c.seq.Add(1)
	return etf.Ref{
		Node:     c.refNode,
		Creation: c.refCreation,
		ID:       [5]uint32{uint32(s & 0x3ffff), uint32(s >> 18), c.refSalt},
	}
}

// genCall sends request to the registered process to on node the way
// gen_server:call does and waits for the reply or the end of ctx.
func (c *courier) genCall(ctx context.Context, nodeName, to string, request etf.Term) (etf.Term, error) {
	ref := c.newRef()
	p := &pendingCall{node: nodeName, reply: make(chan callReply, 1)}
	c.mu.Lock()
	c.pending[ref] = p
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, ref)
		c.mu.Unlock()
	}()

	msg := etf.Tuple{etf.Atom("$gen_call"), etf.Tuple{c.proc.Self(), ref}, request}
	if err := c.proc.Send(gen.ProcessID{Name: to, Node: nodeName}, msg); err != nil {
		return nil, fmt.Errorf("otp: send to %s on %s: %w", to, nodeName, err)
	}
	if c.inflight.Add(1) == 1 {
		nudgeFlusher()
	}
	defer c.inflight.Add(-1)
	select {
	case r := <-p.reply:
		return r.value, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// nudgeFlusher keeps this goroutine's P busy for a few microseconds after a
// send. ergo encodes the message on another goroutine and flushes it 200 ns
// later from a timer; if the runtime idles in between, it sleeps in the
// network poller, whose resolution is a millisecond, and 2% of calls then
// take over 1 ms. Yielding lets the sender and the timer run at once. Only
// a lone call needs it: with others in flight the runtime is not idle.
func nudgeFlusher() {
	for start := time.Now(); time.Since(start) < nudgeFor; {
		runtime.Gosched()
	}
}

const nudgeFor = 20 * time.Microsecond
