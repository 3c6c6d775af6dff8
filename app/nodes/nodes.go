// Package nodes puts deployex's own OTP node, deployex@<short host>, to
// work inside the running program: it makes sure a real epmd runs, starts
// the node with the cookie (over mutual TLS when configured), keeps every
// replica's node connected, turns connection changes into bus events, lets
// the supervisor probe replicas (stable means connected; a hung VM is
// noticed), and keeps the last node info of each replica, and an hour of
// its BEAM memory, so the dashboard can show them without a remote call per
// render.
//
// Package otp is the node; this package is its use by the program. Nothing
// here stops supervision: when the node cannot start, the replicas run
// without the probe, the dashboard says why, and the start is retried.
package nodes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"deployex/app"
	"deployex/app/config"
	"deployex/app/events"
	"deployex/app/internal/ring"
	"deployex/app/otp"
	"deployex/app/supervisor"
)

// OTP connectivity of a replica, as app.Instance.OTP reports it.
const (
	Connected    = "connected"
	Disconnected = "disconnected"
)

// Timings of the background work.
const (
	// infoInterval is how often the node info of every connected replica is
	// refreshed for the dashboard.
	infoInterval = 5 * time.Second
	// infoTimeout bounds one node info call.
	infoTimeout = 2 * time.Second
	// retryMax caps the delay between attempts to start the node.
	retryMax = 30 * time.Second
)

var (
	// ErrNotRunning: deployex's node is not running (yet).
	ErrNotRunning = errors.New("deployex's OTP node is not running")
	// ErrNotConnected: the replica's node is not connected to deployex's.
	ErrNotConnected = errors.New("the replica's node is not connected")
)

// Replicas is what the service needs of the supervisor.
type Replicas interface {
	Node(appName string, n int) string
	SetProber(supervisor.Prober)
}

type replicaKey struct {
	app string
	n   int
}

// Service runs deployex's node for the program's lifetime: Start, then Stop.
type Service struct {
	cfg    *config.Config
	bus    *events.Bus
	reps   Replicas
	log    *slog.Logger
	nodes  map[string]replicaKey // every replica's node name, fixed by the configuration
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	// fresh gets the names of replicas that just connected, whose info is
	// read at once rather than at the next refresh.
	fresh chan string

	mu       sync.Mutex
	node     *otp.Node // nil until started
	startErr error     // why the last start failed
	expiry   time.Time // of the certificate the node uses; zero without TLS
	info     map[string]otp.NodeInfo
	// memory keeps each replica's last hour of BEAM memory, made at its
	// first reading. It survives restarts and disconnections (the chart
	// shows the gap) and is only ever made for a configured node, which
	// stays configured for the program's lifetime: none to drop.
	memory map[string]*ring.Ring[MemorySample]
}

// New prepares the service for every replica the configuration names.
func New(cfg *config.Config, bus *events.Bus, reps Replicas, log *slog.Logger) *Service {
	s := &Service{cfg: cfg, bus: bus, reps: reps, log: log.With("component", "nodes"),
		nodes: map[string]replicaKey{}, done: make(chan struct{}), fresh: make(chan string, 64),
		info: map[string]otp.NodeInfo{}, memory: map[string]*ring.Ring[MemorySample]{}}
	for _, spec := range cfg.Apps {
		for n := 1; n <= spec.Replicas; n++ {
			s.nodes[reps.Node(spec.Name, n)] = replicaKey{spec.Name, n}
		}
	}
	return s
}

// PrepareTLS checks the certificates of DEPLOYEX_OTP_TLS_CERT_PATH and writes
// the ssl_dist_optfile the replicas are started with. It runs before the
// supervisor starts any replica; without TLS it does nothing.
func PrepareTLS(cfg *config.Config) error {
	path := cfg.SSLDistOptFile()
	if path == "" {
		return nil
	}
	if _, err := otp.LoadTLS(cfg.OTPTLSCertPath, ""); err != nil {
		return fmt.Errorf("DEPLOYEX_OTP_TLS_CERT_PATH=%s: %w (create them with `deployex gen-certs`)", cfg.OTPTLSCertPath, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	return otp.WriteSSLDistOptFile(path, cfg.OTPTLSCertPath)
}

// Start starts the node in the background, retrying with a growing delay
// while it cannot, then keeps the replicas' node info fresh until Stop. The
// node outlives ctx: Stop ends it once the supervisor is done, so replicas
// it stops are still seen to go and no probe fails for deployex's own sake.
func (s *Service) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go s.run(ctx)
}

func (s *Service) run(ctx context.Context) {
	defer close(s.done)
	for delay := time.Second; ; delay = min(2*delay, retryMax) {
		err := s.start(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		s.startErr = err
		s.mu.Unlock()
		s.log.Error("OTP distribution is not running: replicas are supervised without the OTP probe until it starts",
			"err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(infoInterval)
	defer tick.Stop()
	s.refreshAll(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.refreshAll(ctx)
		case name := <-s.fresh:
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.refresh(ctx, name)
			}()
		}
	}
}

// Stop ends the background work and stops the node.
func (s *Service) Stop() {
	s.cancel()
	<-s.done
	if n := s.current(); n != nil {
		n.Stop()
	}
}

func (s *Service) current() *otp.Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.node
}

// start makes sure epmd runs, starts the node, watches every replica and
// hands the supervisor the probe.
func (s *Service) start(ctx context.Context) error {
	port, err := otp.EPMDPortFromEnv()
	if err != nil {
		return err
	}
	if err := otp.EnsureEPMD(ctx, port, s.epmdBinary()); err != nil {
		return err
	}
	o := otp.Options{Cookie: s.cfg.Cookie, EPMDPort: port, OnEvent: s.onEvent, Logger: s.log}
	var expiry time.Time
	if dir := s.cfg.OTPTLSCertPath; dir != "" {
		host, err := otp.ShortHostname()
		if err != nil {
			return err
		}
		if o.TLS, err = otp.LoadTLS(dir, host); err != nil {
			return err
		}
		if expiry, err = otp.CertExpiry(dir); err != nil {
			return err
		}
	}
	// Stop ends the node, not ctx: the node's goroutines must outlive run's.
	node, err := otp.Start(context.WithoutCancel(ctx), o)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.node, s.startErr, s.expiry = node, nil, expiry
	s.mu.Unlock()
	for name := range s.nodes {
		node.Watch(name)
	}
	s.reps.SetProber(node.Probe)
	return nil
}

// epmdBinary picks the epmd to start when none runs: the host's, else the
// one a deployed release ships (a host with no Erlang installed has only those).
func (s *Service) epmdBinary() string {
	if path, err := exec.LookPath("epmd"); err == nil {
		return path
	}
	for _, spec := range s.cfg.Apps {
		for n := 1; n <= spec.Replicas; n++ {
			if bin := otp.FindEPMD(filepath.Join(s.cfg.ServiceDir(spec.Name, n), "current")); bin != "" {
				return bin
			}
		}
	}
	return ""
}

// onEvent tells the dashboard that a replica connected or dropped. It runs
// on the node's event goroutine and must not block: Publish never does.
func (s *Service) onEvent(e otp.Event) {
	key, ok := s.nodes[e.Node]
	if !ok {
		return // a remote shell or another peer, not a replica
	}
	msg := "otp " + Connected
	if e.Connected {
		select {
		case s.fresh <- e.Node:
		default: // a burst of connections: the periodic refresh catches up
		}
	} else {
		msg = "otp " + Disconnected
		s.mu.Lock()
		delete(s.info, e.Node)
		s.mu.Unlock()
	}
	s.bus.Publish(events.Event{Kind: events.NodeChanged, App: key.app, Instance: key.n, Message: msg, At: e.At})
}

// refreshAll reads the node info of every connected replica at once, so a
// hung one delays nobody.
func (s *Service) refreshAll(ctx context.Context) {
	var wg sync.WaitGroup
	for name := range s.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.refresh(ctx, name)
		}()
	}
	wg.Wait()
}

// refresh reads one replica's node info, if it is connected, and announces
// it when the memory the card shows moved.
func (s *Service) refresh(ctx context.Context, name string) {
	node := s.current()
	if node == nil || !node.Connected(name) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, infoTimeout)
	defer cancel()
	info, err := node.Info(ctx, name)
	if err != nil {
		s.log.Debug("node info failed", "peer", name, "err", err)
		return
	}
	// Only the periodic reads feed the history: API reads at any rate must
	// not crowd the hour out of the ring.
	s.record(name, info.Memory)
	if s.store(name, info) {
		key := s.nodes[name]
		s.bus.Publish(events.Event{Kind: events.NodeChanged, App: key.app, Instance: key.n,
			Message: "otp node info", At: time.Now()})
	}
}

// store caches info and reports whether the memory shown on the card moved
// by 1% or more: memory changes by a few kilobytes all the time, and each
// announcement re-renders the card in every open dashboard.
func (s *Service) store(name string, info otp.NodeInfo) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.info[name]
	s.info[name] = info
	if !had || old.Memory.Total == 0 {
		return true
	}
	diff := info.Memory.Total - old.Memory.Total
	return diff*100 >= old.Memory.Total || -diff*100 >= old.Memory.Total
}

// Info reads replica n of appName's node info now (and refreshes the cache).
func (s *Service) Info(ctx context.Context, appName string, n int) (otp.NodeInfo, error) {
	node := s.current()
	if node == nil {
		return otp.NodeInfo{}, ErrNotRunning
	}
	name := s.reps.Node(appName, n)
	if !node.Connected(name) {
		return otp.NodeInfo{}, fmt.Errorf("%w: %s", ErrNotConnected, name)
	}
	info, err := node.Info(ctx, name)
	if err != nil {
		return otp.NodeInfo{}, err
	}
	s.store(name, info)
	return info, nil
}

// Self describes deployex's own node for its dashboard card.
type Self struct {
	Name       string    // deployex@host; empty until the node runs
	Err        string    // why it does not run, if it tried and failed
	TLS        bool      // the distribution runs over mutual TLS
	CertExpiry time.Time // of the node's certificate; zero without TLS
}

// Self reports the node's state now.
func (s *Service) Self() Self {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Self{TLS: s.cfg.OTPTLSCertPath != "", CertExpiry: s.expiry}
	if s.node != nil {
		out.Name = s.node.Name()
	} else if s.startErr != nil {
		out.Err = s.startErr.Error()
	}
	return out
}

// annotate fills in the OTP connectivity and the last BEAM memory reading of
// replica snapshots: no remote call, so every render can afford it.
func (s *Service) annotate(in []app.Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range in {
		in[i].OTP = Disconnected
		if s.node != nil && s.node.Connected(in[i].Node) {
			in[i].OTP = Connected
			in[i].BEAMMemory = s.info[in[i].Node].Memory.Total
		}
	}
}

// Fleet is the supervisor as the web sees it, its snapshots annotated with
// each replica's OTP connectivity and BEAM memory.
type Fleet struct {
	*supervisor.Supervisor
	Nodes *Service
}

// Instances is the supervisor's snapshot of appName, annotated.
func (f Fleet) Instances(appName string) []app.Instance {
	in := f.Supervisor.Instances(appName)
	f.Nodes.annotate(in)
	return in
}

// Probe asks replica node whether it answers; the deployer uses it to
// decide that a hot upgrade can go ahead.
func (s *Service) Probe(ctx context.Context, node string) error {
	n := s.current()
	if n == nil {
		return ErrNotRunning
	}
	return n.Probe(ctx, node)
}

// HotUpgrade runs release_handler's upgrade steps on replica node through
// deployex's own node, whichever node is current when it is asked.
func (s *Service) HotUpgrade(ctx context.Context, node string, r otp.Release, progress func(otp.Step, error)) error {
	n := s.current()
	if n == nil {
		return ErrNotRunning
	}
	return n.HotUpgrade(ctx, node, r, progress)
}
