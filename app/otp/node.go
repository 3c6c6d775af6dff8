// Package otp is deployex's own Erlang distribution node, deployex@<host>,
// built on ergo: it connects to every replica, notices when one goes down,
// calls functions on it without ever letting its answer break the link,
// reads node info, runs hot upgrades through release_handler and sets up
// mutual TLS for the distribution.
//
// Settings that ergo v1.999.224 needs against real OTP 25–27 nodes (see
// ../../../shared/notes/beam-interop.md and package ergofix) are fixed here,
// not left to callers.
package otp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ergo-services/ergo"
	"github.com/ergo-services/ergo/node"
	"github.com/ergo-services/ergo/proto/dist"

	"deployex/app/otp/ergofix"
)

// DefaultEPMDPort is where epmd listens unless ERL_EPMD_PORT says otherwise.
const DefaultEPMDPort = 4369

// Options configure the embedded node. Only Cookie is required.
type Options struct {
	// Name is the part before '@'; default "deployex".
	Name string
	// Host is the part after '@'; default the short host name, as
	// `erl -sname` uses, so replicas started with -sname can reach us.
	Host   string
	Cookie string
	// EPMDPort defaults to $ERL_EPMD_PORT, then 4369. An epmd must already
	// listen there (see EnsureEPMD): ergo's embedded EPMD would take the
	// port and make every node registered with it unreachable once deployex exits.
	EPMDPort int
	// TLS turns on TLS distribution (see LoadTLS); nil means plain TCP.
	TLS *tls.Config
	// HandshakeTimeout bounds one connection attempt; default 3 s.
	HandshakeTimeout time.Duration
	// OnEvent receives connection changes of every peer, from one goroutine,
	// in order. It must not block: hand the event to a buffered hub.
	OnEvent func(Event)
	// Logger, when set, also receives the warnings ergo prints (once per
	// process: the first node started wins).
	Logger *slog.Logger
}

var startMu sync.Mutex

// Event reports that a peer node connected or disconnected.
type Event struct {
	Node      string
	Connected bool
	At        time.Time
}

// Node is the running embedded node.
type Node struct {
	ergo    node.Node
	courier *courier
	opts    Options
	log     *slog.Logger
	name    string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// evMu orders connection changes and their events; mu guards the maps.
	evMu      sync.Mutex
	mu        sync.Mutex
	connected map[string]node.ConnectionInterface
	watched   map[string]chan struct{} // poked when that node goes down
}

// Start starts the node. It fails when no epmd answers on the EPMD port.
func Start(ctx context.Context, o Options) (*Node, error) {
	if o.Cookie == "" {
		return nil, errors.New("otp: a cookie is required")
	}
	if o.Name == "" {
		o.Name = "deployex"
	}
	if o.Host == "" {
		h, err := ShortHostname()
		if err != nil {
			return nil, err
		}
		o.Host = h
	}
	if o.EPMDPort == 0 {
		p, err := EPMDPortFromEnv()
		if err != nil {
			return nil, err
		}
		o.EPMDPort = p
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	} else {
		routeErgoLog(o.Logger)
	}
	if !EPMDRunning(o.EPMDPort) {
		return nil, fmt.Errorf("otp: no epmd on port %d: start one first (EnsureEPMD)", o.EPMDPort)
	}

	name := o.Name + "@" + o.Host
	n := &Node{
		opts:      o,
		log:       o.Logger.With("node", name),
		name:      name,
		connected: make(map[string]node.ConnectionInterface),
		watched:   make(map[string]chan struct{}),
	}
	ergoOpts := node.Options{
		Flags: node.Flags{
			Enable: true,
			// Off on purpose: ergofix.Negotiate then keeps both sides off it,
			// and ergofix can read every control message deployex exchanges.
			EnableHeaderAtomCache: false,
			EnableBigCreation:     true,
			EnableBigPidRef:       true,
			EnableFragmentation:   true,
			EnableAlias:           true,
		},
		TLS:       o.TLS,
		Registrar: dist.CreateRegistrarWithRemoteEPMD("", uint16(o.EPMDPort)),
		Handshake: ergofix.NewHandshake(o.HandshakeTimeout),
		Proto:     ergofix.NewProto(node.DefaultProtoOptions(), n.connChange),
		System:    node.System{DisableAnonMetrics: true},
	}
	n.ctx, n.cancel = context.WithCancel(ctx)
	// ergo keeps the starting node's identity in a package variable; two
	// Starts at once would race on it.
	startMu.Lock()
	en, err := ergo.StartNodeWithContext(n.ctx, name, o.Cookie, ergoOpts)
	startMu.Unlock()
	if err != nil {
		n.cancel()
		return nil, fmt.Errorf("otp: start %s: %w", name, err)
	}
	n.ergo = en
	c, err := startCourier(n)
	if err != nil {
		en.Stop()
		n.cancel()
		return nil, err
	}
	n.mu.Lock()
	n.courier = c
	n.mu.Unlock()
	n.log.Info("otp node started", "epmd_port", o.EPMDPort, "tls", o.TLS != nil)
	return n, nil
}

// Name returns this node's full name, e.g. deployex@myhost.
func (n *Node) Name() string { return n.name }

// Stop disconnects from every node and stops the embedded node.
func (n *Node) Stop() {
	n.cancel()
	n.wg.Wait()
	n.ergo.Stop()
	n.ergo.Wait()
}

// Connect connects to node now, returning when the handshake is over.
func (n *Node) Connect(ctx context.Context, name string) error {
	done := make(chan error, 1)
	// ergo's Connect takes no context; its dial and handshake timeouts bound it.
	go func() { done <- n.ergo.Connect(name) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("otp: connect %s: %w", name, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Connected reports whether a connection to node is up.
func (n *Node) Connected(name string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.connected[name] != nil
}

// Watch keeps node connected: it connects now and after every disconnect,
// retrying with a backoff of 100 ms up to 1 s until Unwatch or Stop. A
// restarted node is reconnected within about a second of registering.
func (n *Node) Watch(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.watched[name]; ok {
		return
	}
	down := make(chan struct{}, 1)
	n.watched[name] = down
	n.wg.Add(1)
	go n.keep(name, down)
}

// Unwatch stops reconnecting to node; an open connection stays open.
func (n *Node) Unwatch(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if down, ok := n.watched[name]; ok {
		delete(n.watched, name)
		close(down)
	}
}

func (n *Node) keep(name string, down chan struct{}) {
	defer n.wg.Done()
	const minDelay, maxDelay = 100 * time.Millisecond, time.Second
	delay := minDelay
	for {
		if !n.Connected(name) {
			if err := n.Connect(n.ctx, name); err != nil {
				n.log.Debug("reconnect failed", "peer", name, "err", err)
				select {
				case <-n.ctx.Done():
					return
				case _, open := <-down:
					if !open {
						return
					}
				case <-time.After(delay):
				}
				delay = min(2*delay, maxDelay)
				continue
			}
		}
		delay = minDelay
		select {
		case <-n.ctx.Done():
			return
		case _, open := <-down:
			if !open {
				return
			}
		}
	}
}

// connChange is told by ergofix when a connection starts serving or is gone.
// A connection to a restarted peer may start before the old one is reported
// gone; the old one is then reported down first and its late report ignored.
func (n *Node) connChange(name string, conn node.ConnectionInterface, up bool) {
	n.evMu.Lock()
	defer n.evMu.Unlock()
	n.mu.Lock()
	current := n.connected[name]
	if up {
		n.connected[name] = conn
	} else if current == conn {
		delete(n.connected, name)
	}
	watcher := n.watched[name]
	c := n.courier
	n.mu.Unlock()

	if up && current != nil || !up && current == conn {
		n.peerDown(name, watcher, c)
	}
	if up {
		n.log.Info("node connected", "peer", name)
		n.emit(name, true)
	}
}

func (n *Node) peerDown(name string, watcher chan struct{}, c *courier) {
	n.log.Warn("node disconnected", "peer", name)
	// The courier does not exist yet when a node dials in during Start.
	if c != nil {
		c.failNode(name)
	}
	if watcher != nil {
		select {
		case watcher <- struct{}{}:
		default:
		}
	}
	n.emit(name, false)
}

func (n *Node) emit(name string, up bool) {
	if n.opts.OnEvent != nil {
		n.opts.OnEvent(Event{Node: name, Connected: up, At: time.Now()})
	}
}

// ShortHostname returns the host name up to its first dot, as `erl -sname` does.
func ShortHostname() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("otp: host name: %w", err)
	}
	short, _, _ := strings.Cut(h, ".")
	return short, nil
}

// EPMDPortFromEnv returns $ERL_EPMD_PORT, the variable erl, epmd and
// erl_call read, or 4369.
func EPMDPortFromEnv() (int, error) {
	s := os.Getenv("ERL_EPMD_PORT")
	if s == "" {
		return DefaultEPMDPort, nil
	}
	p, err := strconv.Atoi(s)
	if err != nil || p <= 0 || p > 65535 {
		return 0, fmt.Errorf("otp: invalid ERL_EPMD_PORT %q", s)
	}
	return p, nil
}
