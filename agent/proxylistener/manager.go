// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxylistener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nori-net/nori/agent/datapath"
	"github.com/nori-net/nori/agent/policymap"
	"github.com/nori-net/nori/agent/proxy"
)

// Datapath is what the manager needs of the BPF datapath.
type Datapath interface {
	RegisterProxyListener(port uint16, ln syscall.Conn) error
	UnregisterProxyListener(port uint16) error
	RegisterNetnsProxyListener(ip netip.Addr, port uint16, ln syscall.Conn) error
	UnregisterNetnsProxyListener(ip netip.Addr, port uint16) error
	AttachProxyLookup(epID uint16, ns *os.File) error
	DetachProxyLookup(epID uint16) error
	LookupCT(proto uint8, src, dst netip.AddrPort) (datapath.CTEntry, bool, error)
	LookupEndpoint(ip netip.Addr) (datapath.Endpoint, bool, error)
}

// Config configures a Manager.
type Config struct {
	Datapath Datapath
	Certs    *proxy.CertStore
	// ImpliesMTLS is --tls-ca-implies-mtls.
	ImpliesMTLS bool
	// OnRecord gets every proxied request (may be nil). It runs on the
	// request's goroutine after the response, so it must not block.
	OnRecord func(Record)
	Logger   *slog.Logger
}

// Record is one proxied request with the listener that served it.
type Record struct {
	proxy.Record
	Dir  uint8 // policymap.DirIngress or DirEgress
	Port uint16
}

// listenAddr is where listeners bind. Redirected flows reach them by
// socket assignment whatever their address, so loopback keeps the ports
// closed to everything else.
const listenAddr = "127.0.0.1:0"

// shutdownGrace bounds how long a dropped listener lets requests in
// flight finish.
const shutdownGrace = 5 * time.Second

type key struct {
	dir uint8
	l7  string
}

type listener struct {
	key  key
	port uint16
	ln   *net.TCPListener
	srv  *proxy.Server
}

// Manager starts a listener per L7 setting on demand and stops the ones
// no policy map entry names any more. It implements policyengine.Proxy.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	byKey  map[key]*listener
	byPort map[uint16]*listener
	use    map[uint16]int
	closed bool
	// endpoints are the local endpoints whose netns can hold listeners
	// (netns.go), by endpoint ID.
	endpoints map[uint16]*nsEndpoint
	// home is the agent's own netns, where threads return after making a
	// socket in an endpoint's.
	home *os.File

	forwarded, denied, failed atomic.Uint64
}

// New returns a manager without listeners.
func New(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Manager{
		cfg:    cfg,
		log:    cfg.Logger.With("subsys", "proxy"),
		byKey:  map[key]*listener{},
		byPort: map[uint16]*listener{},
		use:    map[uint16]int{},

		endpoints: map[uint16]*nsEndpoint{},
	}
}

// Port returns the port of the listener applying l7 (a policymap.Value.L7)
// to flows in direction dir, starting it if needed.
func (m *Manager) Port(dir uint8, l7 string) (uint16, error) {
	k := key{dir, l7}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, errors.New("proxy listener: manager closed")
	}
	if l, ok := m.byKey[k]; ok {
		return l.port, nil
	}
	l, err := m.start(k)
	if err != nil {
		return 0, err
	}
	m.byKey[k] = l
	m.byPort[l.port] = l
	return l.port, nil
}

func (m *Manager) start(k key) (*listener, error) {
	ln, err := listenTransparent(context.Background(), listenAddr)
	if err != nil {
		return nil, err
	}
	l := &listener{key: k, ln: ln, port: uint16(ln.Addr().(*net.TCPAddr).Port)}
	srv, err := m.newServer(k, l.port, nil, m.log.With("port", l.port))
	if err != nil {
		ln.Close()
		return nil, err
	}
	l.srv = srv
	if err := m.cfg.Datapath.RegisterProxyListener(l.port, ln); err != nil {
		ln.Close()
		return nil, err
	}
	go func() {
		if err := srv.Serve(ln); err != nil {
			m.log.Error("proxy listener stopped", "port", l.port, "err", err)
		}
	}()
	m.log.Info("proxy listener started", "port", l.port, "dir", dirName(k.dir), "l7", k.l7)
	if err := srv.Check(); err != nil {
		m.log.Warn("proxy listener cannot serve yet", "port", l.port, "err", err)
	}
	return l, nil
}

// newServer returns the proxy serving the L7 setting k for flows with
// proxy port port. dial is nil for the node's listeners, which dial
// upstream from the node with the client's mark.
func (m *Manager) newServer(k key, port uint16, dial proxy.DialFunc, log *slog.Logger) (*proxy.Server, error) {
	pols, err := policymap.ParseL7(k.l7)
	if err != nil {
		return nil, err
	}
	set, err := proxy.Merge(pols)
	if err != nil {
		return nil, err
	}
	srv, err := proxy.NewServer(proxy.PortConfig{
		Certs:          m.cfg.Certs,
		TerminatingTLS: set.TerminatingTLS,
		OriginatingTLS: set.OriginatingTLS,
		ServerNames:    set.ServerNames,
		HTTP:           set.HTTP,
		ImpliesMTLS:    m.cfg.ImpliesMTLS,
		OriginalDst:    m.originOf(k.dir, port, dial != nil),
		OnRecord:       m.recorder(k.dir, port),
		Logger:         log,
		// A policy may well come before its certificates: the port
		// then refuses handshakes until they are written.
		LateSecrets: true,
		Dial:        dial,
	})
	if err != nil {
		return nil, fmt.Errorf("proxy listener for %s: %w", k.l7, err)
	}
	return srv, nil
}

// originOf returns the listener's OriginalDst hook: the accepted socket's
// local address is the flow's original destination, and the conntrack
// entry the datapath made when it steered the flow names the client's
// identity. A connection without such an entry did not come through a
// redirect (something on the node dialled the loopback port) and is
// refused. A listener in the endpoint's netns (inNetns) dials from there,
// where no mark is needed.
func (m *Manager) originOf(dir uint8, port uint16, inNetns bool) func(net.Conn) (proxy.Origin, error) {
	return func(c net.Conn) (proxy.Origin, error) {
		local, err := netip.ParseAddrPort(c.LocalAddr().String())
		if err != nil {
			return proxy.Origin{}, fmt.Errorf("local address: %w", err)
		}
		remote, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil {
			return proxy.Origin{}, fmt.Errorf("remote address: %w", err)
		}
		e, ok, err := m.cfg.Datapath.LookupCT(6, remote, local)
		if err != nil {
			return proxy.Origin{}, err
		}
		if !ok || e.ProxyPort != port {
			return proxy.Origin{}, fmt.Errorf("no redirected flow %v → %v for proxy port %d", remote, local, port)
		}
		o := proxy.Origin{
			Dst:         local,
			SrcIdentity: e.SrcIdentity,
			DstIdentity: e.DstIdentity,
		}
		if !inNetns {
			o.Mark = datapath.UpstreamMark(e.SrcIdentity)
		}
		// Records name the endpoint whose policy sent the flow here: the
		// destination for ingress rules, the client for egress ones.
		// (Conntrack names whichever program saw the flow first.)
		owner := local.Addr()
		if dir == policymap.DirEgress {
			owner = remote.Addr()
		}
		if ep, ok, err := m.cfg.Datapath.LookupEndpoint(owner); err == nil && ok {
			o.EndpointID = ep.ID
		}
		return o, nil
	}
}

func (m *Manager) recorder(dir uint8, port uint16) func(proxy.Record) {
	return func(r proxy.Record) {
		switch r.Verdict {
		case proxy.VerdictForwarded:
			m.forwarded.Add(1)
		case proxy.VerdictDenied:
			m.denied.Add(1)
		default:
			m.failed.Add(1)
		}
		if m.cfg.OnRecord != nil {
			m.cfg.OnRecord(Record{Record: r, Dir: dir, Port: port})
		}
	}
}

// Retain stops the listeners whose port use does not name; use maps
// ports to the number of policy map keys naming them.
func (m *Manager) Retain(use map[uint16]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.use = make(map[uint16]int, len(use))
	for p, n := range use {
		m.use[p] = n
	}
	for port, l := range m.byPort {
		if use[port] > 0 {
			continue
		}
		delete(m.byPort, port)
		delete(m.byKey, l.key)
		m.stop(l)
		for _, ep := range m.endpoints {
			m.stopInNetnsLocked(ep, port)
		}
	}
}

// stop unregisters l, so new flows to its port are dropped, and lets its
// requests in flight finish in the background.
func (m *Manager) stop(l *listener) {
	if err := m.cfg.Datapath.UnregisterProxyListener(l.port); err != nil {
		m.log.Warn("unregister proxy listener", "port", l.port, "err", err)
	}
	m.log.Info("proxy listener stopped: no policy redirects to it", "port", l.port)
	shutdown(l)
}

// shutdown lets l's requests in flight finish in the background.
func shutdown(l *listener) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := l.srv.Shutdown(ctx); err != nil {
			l.srv.Close()
		}
	}()
}

// Status is the proxy's state for `nori status`.
type Status struct {
	Listeners int
	// Redirects is the number of policy map keys steering to a listener.
	Redirects int
	Ports     []uint16
	// NetnsListeners are the listeners inside endpoints' netns.
	NetnsListeners int
	// Requests by outcome since the agent started.
	Forwarded, Denied, Failed uint64
	// Problems say which listeners cannot serve now (a secret missing).
	Problems []string
}

// Status returns the current state.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Status{Listeners: len(m.byPort)}
	for port, l := range m.byPort {
		s.Ports = append(s.Ports, port)
		s.Redirects += m.use[port]
		if err := l.srv.Check(); err != nil {
			s.Problems = append(s.Problems, fmt.Sprintf("port %d: %v", port, err))
		}
	}
	for _, ep := range m.endpoints {
		s.NetnsListeners += len(ep.listeners)
	}
	sort.Strings(s.Problems)
	sort.Slice(s.Ports, func(i, j int) bool { return s.Ports[i] < s.Ports[j] })
	s.Forwarded, s.Denied, s.Failed = m.forwarded.Load(), m.denied.Load(), m.failed.Load()
	return s
}

// Close stops every listener and refuses new ones.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for port, l := range m.byPort {
		delete(m.byPort, port)
		delete(m.byKey, l.key)
		if err := m.cfg.Datapath.UnregisterProxyListener(l.port); err != nil {
			m.log.Warn("unregister proxy listener", "port", l.port, "err", err)
		}
		l.srv.Close()
	}
	for _, ep := range m.endpoints {
		for port := range ep.listeners {
			m.stopInNetnsLocked(ep, port)
		}
		ep.close()
	}
	if m.home != nil {
		m.home.Close()
		m.home = nil
	}
}

func dirName(d uint8) string {
	if d == policymap.DirEgress {
		return "egress"
	}
	return "ingress"
}
