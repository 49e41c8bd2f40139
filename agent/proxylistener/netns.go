// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxylistener

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
)

// Listeners inside endpoints' network namespaces. An endpoint whose
// ingress policy redirects to the proxy gets, for each proxy port, a
// listener of its own created in its netns and served like the node's
// listener of that port. The datapath hands the endpoint's redirected
// flows to it (bpf/proxy.c), and its upstream connections stay on the
// endpoint's loopback: the path of a sidecar, without one. The node's
// listener remains for egress redirects and for endpoints whose netns the
// agent cannot enter (Docker's, set up by Docker itself).

// nsEndpoint is a local endpoint whose netns the agent knows.
type nsEndpoint struct {
	id   uint16
	ips  []netip.Addr // its IPv4 addresses; the listener serves them all
	path string
	ns   *os.File // opened on first use
	// attached: the datapath's sk_lookup program runs in the netns. It
	// stays until the endpoint goes: detaching it while a flow for the
	// proxy is under way would hand that flow to the application.
	attached  bool
	listeners map[uint16]*listener // by proxy port
}

func (ep *nsEndpoint) close() {
	if ep.ns != nil {
		ep.ns.Close()
		ep.ns = nil
	}
}

// SetEndpoint tells the manager where a local endpoint lives, so that its
// ingress redirects can get listeners in its netns (InNetns). A changed
// namespace or address drops the listeners made for the old one.
func (m *Manager) SetEndpoint(id uint16, ips []netip.Addr, netnsPath string) {
	var v4 []netip.Addr
	for _, ip := range ips {
		if ip.Is4() {
			v4 = append(v4, ip)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ep, ok := m.endpoints[id]; ok {
		if slices.Equal(ep.ips, v4) && ep.path == netnsPath {
			return
		}
		m.removeEndpointLocked(ep)
	}
	m.endpoints[id] = &nsEndpoint{id: id, ips: v4, path: netnsPath, listeners: map[uint16]*listener{}}
}

// RemoveEndpoint stops the endpoint's listeners and detaches the datapath
// from its netns.
func (m *Manager) RemoveEndpoint(id uint16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ep, ok := m.endpoints[id]; ok {
		m.removeEndpointLocked(ep)
	}
}

func (m *Manager) removeEndpointLocked(ep *nsEndpoint) {
	for port := range ep.listeners {
		m.stopInNetnsLocked(ep, port)
	}
	if ep.attached {
		if err := m.cfg.Datapath.DetachProxyLookup(ep.id); err != nil {
			m.log.Warn("detach proxy lookup", "endpoint", ep.id, "err", err)
		}
	}
	ep.close()
	delete(m.endpoints, ep.id)
}

// InNetns makes the endpoint's listeners for exactly ports (proxy ports
// of its ingress redirects, each one a port of a node listener) and
// reports whether all of them serve in its netns. Only then may the
// endpoint's datapath entry say so (datapath.EndpointProxyNetns);
// otherwise its flows keep going to the node's listeners.
func (m *Manager) InNetns(epID uint16, ports []uint16) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	ep, ok := m.endpoints[epID]
	if !ok || m.closed {
		return false
	}
	for port := range ep.listeners {
		if !slices.Contains(ports, port) {
			m.stopInNetnsLocked(ep, port)
		}
	}
	if len(ports) == 0 {
		return false
	}
	if err := m.enterLocked(ep); err != nil {
		m.log.Warn("proxy listeners stay on the node for this endpoint", "endpoint", epID, "err", err)
		return false
	}
	for _, port := range ports {
		if _, ok := ep.listeners[port]; ok {
			continue
		}
		if err := m.startInNetnsLocked(ep, port); err != nil {
			m.log.Warn("proxy listeners stay on the node for this endpoint", "endpoint", epID, "port", port, "err", err)
			return false
		}
	}
	return true
}

// enterLocked opens the endpoint's netns and attaches the datapath to it.
func (m *Manager) enterLocked(ep *nsEndpoint) error {
	if m.home == nil {
		home, err := os.Open("/proc/self/ns/net")
		if err != nil {
			return fmt.Errorf("open the agent's netns: %w", err)
		}
		m.home = home
	}
	if ep.ns == nil {
		if ep.path == "" || len(ep.ips) == 0 {
			return errors.New("netns or IPv4 address unknown")
		}
		ns, err := os.Open(ep.path)
		if err != nil {
			return fmt.Errorf("open netns: %w", err)
		}
		ep.ns = ns
	}
	if !ep.attached {
		if err := m.cfg.Datapath.AttachProxyLookup(ep.id, ep.ns); err != nil {
			return err
		}
		ep.attached = true
	}
	return nil
}

func (m *Manager) startInNetnsLocked(ep *nsEndpoint, port uint16) error {
	node, ok := m.byPort[port]
	if !ok {
		return fmt.Errorf("no proxy listener on port %d", port)
	}
	ln, err := listenIn(ep.ns, m.home)
	if err != nil {
		return err
	}
	l := &listener{key: node.key, ln: ln, port: port}
	srv, err := m.newServer(node.key, port, dialerIn(ep.ns, m.home),
		m.log.With("port", port, "endpoint", ep.id, "netns_port", ln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		ln.Close()
		return err
	}
	l.srv = srv
	for _, ip := range ep.ips {
		if err := m.cfg.Datapath.RegisterNetnsProxyListener(ip, port, ln); err != nil {
			ln.Close() // also drops the entries registered so far
			return err
		}
	}
	ep.listeners[port] = l
	go func() {
		if err := srv.Serve(ln); err != nil {
			m.log.Error("proxy listener stopped", "port", port, "endpoint", ep.id, "err", err)
		}
	}()
	m.log.Info("proxy listener started in endpoint netns", "port", port, "endpoint", ep.id, "ips", ep.ips)
	return nil
}

// stopInNetnsLocked unregisters the endpoint's listener for port (new
// flows for it are refused) and lets its requests finish.
func (m *Manager) stopInNetnsLocked(ep *nsEndpoint, port uint16) {
	l, ok := ep.listeners[port]
	if !ok {
		return
	}
	delete(ep.listeners, port)
	for _, ip := range ep.ips {
		if err := m.cfg.Datapath.UnregisterNetnsProxyListener(ip, port); err != nil {
			m.log.Warn("unregister proxy listener", "port", port, "endpoint", ep.id, "err", err)
		}
	}
	shutdown(l)
}
