// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// Policy on real traffic: containers in their own netns on one node,
// plus an "external" netns the node routes to, standing for the world.

// tcpTry listens on server:port and dials it from client. It returns the
// dial or echo error: nil when a request and its echo made it through.
func tcpTry(t *testing.T, client, server container, port int) error {
	t.Helper()
	sw, cw := newNSWorker(t, server.ns), newNSWorker(t, client.ns)
	return tcpTryFrom(t, cw, sw, server.ip, port)
}

func tcpTryFrom(t *testing.T, cw, sw *nsWorker, server netip.Addr, port int) error {
	t.Helper()
	var ln net.Listener
	if err := sw.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(server, uint16(port)).String())
		return err
	}); err != nil {
		t.Fatalf("listen on %s:%d: %v", server, port, err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 64)
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		conn.Write(append([]byte("echo:"), buf[:n]...))
	}()
	var conn net.Conn
	if err := cw.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp4", ln.Addr().String(), 1500*time.Millisecond)
		return err
	}); err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Write([]byte("hi")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	if string(buf[:n]) != "echo:hi" {
		return fmt.Errorf("echo = %q", buf[:n])
	}
	return nil
}

func TestPolicyLocal(t *testing.T) {
	requireTools(t, "ip", "ping", "nsenter", "sysctl")
	bpfRoot := mountBPFFS(t)
	node := newNetNS(t, "pnode")
	// The node routes the external netns's traffic to the containers.
	sh(t, "nsenter", "--net=/run/netns/"+node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	a := addContainer(t, node, "pctra", "10.200.1.2", "lxcpa")
	b := addContainer(t, node, "pctrb", "10.200.1.3", "lxcpb")
	ext := newNetNS(t, "pext")
	sh(t, "ip", "link", "add", "ext0", "netns", node, "type", "veth", "peer", "name", "eth0", "netns", ext)
	sh(t, "ip", "-n", node, "addr", "add", "198.51.100.1/24", "dev", "ext0")
	sh(t, "ip", "-n", node, "link", "set", "ext0", "up")
	sh(t, "ip", "-n", ext, "addr", "add", "198.51.100.2/24", "dev", "eth0")
	sh(t, "ip", "-n", ext, "link", "set", "eth0", "up")
	sh(t, "ip", "-n", ext, "route", "add", "10.200.0.0/16", "via", "198.51.100.1")
	w := newNSWorker(t, node)

	dp := openIn(t, w, bpfRoot)
	const (
		idA, idB       = 1000, 1001
		allowed, other = 8080, 9090
		fromWorld      = 8443
		toWorld        = 7070
	)
	epA := a.endpoint(1, idA)
	epA.Flags = EndpointPolicyEgress | EndpointPolicyIngress
	epB := b.endpoint(2, idB)
	epB.Flags = EndpointPolicyIngress
	cfg := wirePolicyNode(t, w, dp, []container{a, b}, []Endpoint{epA, epB})
	allow := PolicyValue{Verdict: PolicyAllow, RuleID: 1}
	for _, k := range []PolicyKey{
		{EndpointID: 1, Dir: DirEgress, Identity: idB, Proto: protoTCP, Port: allowed, PortBits: 16},
		{EndpointID: 1, Dir: DirEgress, Identity: idB, Proto: protoICMP},
		{EndpointID: 2, Dir: DirIngress, Identity: idA, Proto: protoTCP},
		{EndpointID: 2, Dir: DirIngress, Proto: protoICMP, Port: 8, PortBits: 16},
		{EndpointID: 2, Dir: DirIngress, Identity: 2, Proto: protoTCP, Port: fromWorld, PortBits: 16},
		{EndpointID: 1, Dir: DirEgress, Identity: 2, Proto: protoTCP, Port: toWorld, PortBits: 16},
		// A's ingress allows nothing.
	} {
		if err := dp.UpsertPolicy(k, allow); err != nil {
			t.Fatalf("UpsertPolicy(%+v): %v", k, err)
		}
	}
	drops := func(d Direction) uint64 {
		m, err := dp.Metrics()
		if err != nil {
			t.Fatal(err)
		}
		return m[MetricKey{ReasonDropPolicy, d}].Packets
	}

	t.Run("allowed port, replies on state", func(t *testing.T) {
		if err := tcpTry(t, a, b, allowed); err != nil {
			t.Fatalf("A -> B:%d: %v", allowed, err)
		}
		ct, err := dp.ListCT()
		if err != nil {
			t.Fatal(err)
		}
		var seen bool
		for _, e := range ct {
			if e.Proto == protoTCP && e.Dst == netip.AddrPortFrom(b.ip, allowed) && e.Src.Addr() == a.ip && !e.Reply {
				seen = e.SrcIdentity == idA && e.DstIdentity == idB && e.Flags&CTSeenReply != 0
			}
		}
		if !seen {
			t.Fatalf("conntrack lacks the established A -> B:%d flow: %+v", allowed, ct)
		}
	})
	t.Run("other port", func(t *testing.T) {
		before := drops(DirEgress)
		if err := tcpTry(t, a, b, other); err == nil {
			t.Fatalf("A -> B:%d connected", other)
		}
		if got := drops(DirEgress); got <= before {
			t.Fatalf("drop-policy egress = %d, want > %d", got, before)
		}
	})
	t.Run("into A is denied", func(t *testing.T) {
		before := drops(DirIngress)
		if err := tcpTry(t, b, a, allowed); err == nil {
			t.Fatal("B -> A connected although A allows no ingress")
		}
		if got := drops(DirIngress); got <= before {
			t.Fatalf("drop-policy ingress = %d, want > %d", got, before)
		}
	})
	t.Run("echo", func(t *testing.T) {
		mustPing(t, a, b.ip)
		mustNotPing(t, b, a.ip)
	})
	t.Run("world through the node stack", func(t *testing.T) {
		ew, bw := newNSWorker(t, ext), newNSWorker(t, b.ns)
		if err := tcpTryFrom(t, ew, bw, b.ip, fromWorld); err != nil {
			t.Fatalf("world -> B:%d: %v", fromWorld, err)
		}
		if err := tcpTryFrom(t, ew, bw, b.ip, allowed); err == nil {
			t.Fatalf("world -> B:%d connected", allowed)
		}
		ct, _ := dp.ListCT()
		var seen bool
		for _, e := range ct {
			seen = seen || (e.Dst == netip.AddrPortFrom(b.ip, fromWorld) && e.SrcIdentity == 2 && e.EndpointID == 2)
		}
		if !seen {
			t.Fatalf("no conntrack entry from the world (identity 2): %+v", ct)
		}
	})
	t.Run("replies from the world through the node stack", func(t *testing.T) {
		// The replies reach A through nori_to_container, where only
		// conntrack lets them in.
		ew, aw := newNSWorker(t, ext), newNSWorker(t, a.ns)
		world := netip.MustParseAddr("198.51.100.2")
		if err := tcpTryFrom(t, aw, ew, world, toWorld); err != nil {
			t.Fatalf("A -> world:%d: %v", toWorld, err)
		}
		if err := tcpTryFrom(t, aw, ew, world, other); err == nil {
			t.Fatalf("A -> world:%d connected", other)
		}
	})
	t.Run("policy off", func(t *testing.T) {
		off := cfg
		off.Flags = 0
		if err := dp.SetConfig(off); err != nil {
			t.Fatal(err)
		}
		if err := tcpTry(t, b, a, other); err != nil {
			t.Fatalf("without policy B -> A:%d: %v", other, err)
		}
		ct, _ := dp.ListCT()
		for _, e := range ct {
			if e.Dst.Port() == other {
				t.Fatalf("conntrack entry without policy: %+v", e)
			}
		}
	})
}

// openIn opens the datapath from the node netns of w, closed on cleanup.
func openIn(t *testing.T, w *nsWorker, bpfRoot string) *Datapath {
	t.Helper()
	var dp *Datapath
	if err := w.Do(func() (err error) {
		dp, err = Open(Config{BPFRoot: bpfRoot, Logger: testLogger(t)})
		return err
	}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { dp.Close() })
	return dp
}

// wirePolicyNode turns policy enforcement on (node address 172.30.0.1,
// cluster 10.200.0.0/16), attaches the programs to the containers' veths
// and writes their endpoints. It returns the node config it wrote.
func wirePolicyNode(t *testing.T, w *nsWorker, dp *Datapath, cs []container, eps []Endpoint) NodeConfig {
	t.Helper()
	cfg := NodeConfig{
		RouterIP:    netip.MustParseAddr(routerIP),
		ClusterCIDR: netip.MustParsePrefix("10.200.0.0/16"),
		NodeIP:      netip.MustParseAddr("172.30.0.1"),
		Flags:       ConfigPolicy,
	}
	if err := w.Do(func() error {
		if err := dp.SetConfig(cfg); err != nil {
			return err
		}
		for _, c := range cs {
			if err := dp.AttachEndpoint(c.ifindex, c.lxcName); err != nil {
				return err
			}
		}
		for _, e := range eps {
			if err := dp.UpsertEndpoint(e); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("set up: %v", err)
	}
	return cfg
}
