// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Underlay addressing of simulated hosts. It must not overlap the cluster
// pool (10.0.0.0/8 by default).
var (
	UnderlayPrefix = netip.MustParsePrefix("172.30.0.0/24")
	WorldAddr      = netip.MustParseAddr("172.30.0.254")
)

// runRoot is where per-switch files live. It is outside /sys and in the root
// mount namespace, so a bpffs mounted below it outlives any agent process.
const runRoot = "/run/nori-test"

// Switch is a network namespace holding a bridge (br0) that every simulated
// host plugs into with a veth: the shared underlay L2 segment.
type Switch struct {
	Name   string // netns name, nsw-<rand>
	Netns  string // /run/netns/<Name>
	Rand   string // suffix shared by every name this switch creates
	RunDir string // /run/nori-test/<rand>

	mu    sync.Mutex
	next  int // last host number handed out
	hosts []*Host
}

// NewSwitch creates the switch namespace and its bridge. t.Cleanup deletes
// it and the per-switch directory after the hosts' own cleanups ran.
func NewSwitch(t testing.TB) *Switch {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("simulated hosts need root")
	}
	Require(t, "ip", "nsenter", "sysctl")
	sweepStale(t)
	r := randSuffix(3)
	s := &Switch{Name: "nsw-" + r, Rand: r, RunDir: filepath.Join(runRoot, r)}
	s.Netns = "/run/netns/" + s.Name
	// Another test process's cleanup may remove an empty /run/nori-test
	// between MkdirAll's two mkdirs: retry.
	var err error
	for range 3 {
		if err = os.MkdirAll(s.RunDir, 0o755); err == nil {
			err = writeOwner(s.RunDir)
		}
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("create %s: %v", s.RunDir, err)
	}
	t.Cleanup(func() { s.cleanup(t) })
	mustRun(t, "ip", "netns", "add", s.Name)
	mustRun(t, "ip", "-n", s.Name, "link", "set", "lo", "up")
	mustRun(t, "ip", "-n", s.Name, "link", "add", "br0", "type", "bridge")
	mustRun(t, "ip", "-n", s.Name, "link", "set", "br0", "up")
	return s
}

func (s *Switch) cleanup(t testing.TB) {
	t.Helper()
	if _, err := run(nil, "ip", "netns", "del", s.Name); err != nil && fileExists(s.Netns) {
		t.Errorf("delete switch netns: %v", err)
	}
	if err := unmountAll(s.RunDir); err != nil {
		t.Errorf("clean %s: %v", s.RunDir, err)
	}
	// Leave /run/nori-test itself if other switches still use it.
	_ = os.Remove(runRoot)
}

// Hosts returns the hosts added so far, in order (the world included).
func (s *Switch) Hosts() []*Host {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Host(nil), s.hosts...)
}

// AddHost creates a simulated host 172.30.0.N/24 (N counts from 1) with the
// per-host directories, bpffs and CNI configuration described in the package
// documentation. No agent runs until StartAgent.
func (s *Switch) AddHost(t testing.TB, name string) *Host {
	t.Helper()
	s.mu.Lock()
	s.next++
	n := s.next
	s.mu.Unlock()
	if n >= 254 {
		t.Fatalf("too many hosts on switch %s", s.Name)
	}
	addr := UnderlayPrefix.Addr().As4()
	addr[3] = byte(n)
	h := s.addNode(t, name, n, netip.AddrFrom4(addr))
	h.setupAgentDirs(t)
	return h
}

// AddWorld creates the "outside world": a plain namespace at 172.30.0.254 with
// no agent, the default gateway of every host. Masquerade tests check that
// traffic from containers arrives here from the host's underlay address.
func (s *Switch) AddWorld(t testing.TB) *Host {
	t.Helper()
	return s.addNode(t, "world", 254, WorldAddr)
}

// addNode creates the netns, its veth into the bridge and its addressing.
func (s *Switch) addNode(t testing.TB, name string, n int, addr netip.Addr) *Host {
	t.Helper()
	if name == "" || len(name) > 20 || filepath.Base(name) != name {
		t.Fatalf("bad host name %q: want a short plain name", name)
	}
	h := &Host{
		Name:      name,
		NetnsName: "nh-" + name + "-" + s.Rand,
		Underlay:  addr,
		Dir:       filepath.Join(s.RunDir, name),
		sw:        s,
	}
	h.Netns = "/run/netns/" + h.NetnsName
	if err := os.Mkdir(h.Dir, 0o755); err != nil {
		t.Fatalf("create host dir (duplicate host name %q?): %v", name, err)
	}
	t.Cleanup(func() { h.cleanup(t) })

	mustRun(t, "ip", "netns", "add", h.NetnsName)
	port := fmt.Sprintf("p%d", n)
	// The veth is created inside the switch namespace and its peer moved
	// straight into the host: nothing ever appears in the root netns.
	mustRun(t, "ip", "-n", s.Name, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.NetnsName)
	mustRun(t, "ip", "-n", s.Name, "link", "set", port, "master", "br0", "up")
	mustRun(t, "ip", "-n", h.NetnsName, "link", "set", "lo", "up")
	mustRun(t, "ip", "-n", h.NetnsName, "addr", "add", fmt.Sprintf("%s/%d", addr, UnderlayPrefix.Bits()), "dev", "eth0")
	mustRun(t, "ip", "-n", h.NetnsName, "link", "set", "eth0", "up")
	if addr != WorldAddr {
		// A default route makes the agent's --ipv4-node default (the address
		// of the default route's device) meaningful and sends "internet"
		// traffic to the world namespace, where it ends.
		mustRun(t, "ip", "-n", h.NetnsName, "route", "add", "default", "via", WorldAddr.String(), "dev", "eth0")
	}
	// New namespaces may inherit forwarding from the root netns or not,
	// depending on net.core.devconf_inherit_init_net: set it explicitly.
	h.MustExec(t, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.forwarding=1")

	s.mu.Lock()
	s.hosts = append(s.hosts, h)
	s.mu.Unlock()
	return h
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
