// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/overlay"
)

// Two simulated nodes joined by a veth underlay, each with one container,
// its own bpffs, VXLAN device and datapath, driven the way the agent will
// drive them.

const (
	underlayMTU = 1500
	ctrMTU      = underlayMTU - overlay.Overhead
	// Unlike the 169.254.1.1 of the single-node tests, every node has its
	// own router address inside its CIDR, as the agent does: the node's
	// own traffic into the overlay uses it as source.
	clusterCIDR = "10.201.0.0/16"
)

type testNode struct {
	name     string // "node1"
	ns       string
	w        *nsWorker
	bpfRoot  string
	underlay netip.Addr
	cidr     netip.Prefix
	router   netip.Addr
	ctr      container
	identity uint32 // of ctr
	vxIndex  int
	dp       *Datapath
	mode     string
}

func (n *testNode) overlayConfig(t *testing.T) overlay.Config {
	return overlay.Config{MTU: ctrMTU, RouterIP: n.router, Logger: testLogger(t)}
}

func (n *testNode) nodeConfig(flags uint32) NodeConfig {
	return NodeConfig{
		RouterIP:      n.router,
		ClusterCIDR:   netip.MustParsePrefix(clusterCIDR),
		NodeIP:        n.underlay,
		TunnelIfIndex: n.vxIndex,
		Flags:         flags,
	}
}

// open loads the datapath as a (re)starting agent does.
func (n *testNode) open(t *testing.T) {
	t.Helper()
	if err := n.w.Do(func() (err error) {
		n.dp, err = Open(Config{BPFRoot: n.bpfRoot, AttachMode: n.mode, Logger: testLogger(t)})
		return err
	}); err != nil {
		t.Fatalf("%s: Open: %v", n.name, err)
	}
}

func (n *testNode) close(t *testing.T) {
	t.Helper()
	if n.dp == nil {
		return
	}
	if err := n.dp.Close(); err != nil {
		t.Errorf("%s: Close: %v", n.name, err)
	}
	n.dp = nil
}

func (n *testNode) metric(t *testing.T, r Reason, d Direction) uint64 {
	t.Helper()
	m, err := n.dp.Metrics()
	if err != nil {
		t.Fatalf("%s: Metrics: %v", n.name, err)
	}
	return m[MetricKey{r, d}].Packets
}

func (n *testNode) sysctl(t *testing.T, kv string) {
	t.Helper()
	sh(t, "nsenter", "--net=/run/netns/"+n.ns, "sysctl", "-qw", kv)
}

func newTestNode(t *testing.T, idx int, mode string) *testNode {
	t.Helper()
	n := &testNode{
		name:     fmt.Sprintf("node%d", idx),
		bpfRoot:  mountBPFFS(t),
		underlay: netip.MustParseAddr(fmt.Sprintf("172.31.200.%d", idx)),
		cidr:     netip.MustParsePrefix(fmt.Sprintf("10.201.%d.0/24", idx)),
		router:   netip.MustParseAddr(fmt.Sprintf("10.201.%d.1", idx)),
		identity: uint32(1000 * idx),
		mode:     mode,
	}
	n.ns = newNetNS(t, n.name)
	n.sysctl(t, "net.ipv4.ip_forward=0")
	// The router address lives on a veth pair, as agent/hostnet does it.
	sh(t, "ip", "-n", n.ns, "link", "add", "nori_host", "type", "veth", "peer", "name", "nori_net")
	sh(t, "ip", "-n", n.ns, "addr", "add", n.router.String()+"/32", "dev", "nori_host")
	sh(t, "ip", "-n", n.ns, "link", "set", "nori_host", "up")
	sh(t, "ip", "-n", n.ns, "link", "set", "nori_net", "up")
	n.ctr = addContainerVia(t, n.ns, n.name+"ctr", fmt.Sprintf("10.201.%d.2", idx), "lxc"+n.name, n.router.String(), ctrMTU)
	n.w = newNSWorker(t, n.ns)
	t.Cleanup(func() { n.close(t) })
	return n
}

// setUp does what the agent does on start, in the order it must: VXLAN
// device, datapath and config (with the device's ifindex), endpoints,
// overlay programs, then remote routes and ipcache.
func (n *testNode) setUp(t *testing.T, peer *testNode, flags uint32) {
	t.Helper()
	n.open(t)
	if err := n.w.Do(func() (err error) {
		oc := n.overlayConfig(t)
		if n.vxIndex, err = overlay.Setup(oc); err != nil {
			return err
		}
		if err := n.dp.SetConfig(n.nodeConfig(flags)); err != nil {
			return err
		}
		if err := n.dp.AttachEndpoint(n.ctr.ifindex, n.ctr.lxcName); err != nil {
			return err
		}
		if err := n.dp.UpsertEndpoint(n.ctr.endpoint(1, n.identity)); err != nil {
			return err
		}
		if err := n.dp.AttachOverlay(n.vxIndex, overlay.DefaultDevice); err != nil {
			return err
		}
		// What the ipcache sync writes for the peer: its endpoints (with
		// their identity) and its whole CIDR (its router and health
		// addresses), both behind its underlay address.
		for _, e := range []IPCacheEntry{
			{Prefix: netip.PrefixFrom(peer.ctr.ip, 32), Identity: peer.identity, TunnelEndpoint: peer.underlay, Flags: IPCacheRemote},
			{Prefix: peer.cidr, Identity: 6, TunnelEndpoint: peer.underlay, Flags: IPCacheRemote},
			// The syncer may publish this node's own CIDR too.
			{Prefix: n.cidr, Identity: 1, TunnelEndpoint: n.underlay},
		} {
			if err := n.dp.UpsertIPCache(e); err != nil {
				return err
			}
		}
		return overlay.SetRemoteCIDRs(oc, overlay.ModeTunnel, []overlay.Remote{{CIDR: peer.cidr, NodeIP: peer.underlay}})
	}); err != nil {
		t.Fatalf("%s: set up: %v", n.name, err)
	}
}

// collectEvents drains what is in the events ring buffer right now.
func (n *testNode) collectEvents(t *testing.T) []Event {
	t.Helper()
	rd, err := n.dp.EventReader()
	if err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
	defer rd.Close()
	var out []Event
	for {
		rd.SetDeadline(time.Now().Add(200 * time.Millisecond))
		rec, err := rd.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: read event: %v", n.name, err)
		}
		ev, err := ParseEvent(rec.RawSample)
		if err != nil {
			t.Fatalf("%s: %v", n.name, err)
		}
		out = append(out, ev)
	}
}

// nodePing pings from the node netns itself (no container).
func nodePing(n *testNode, to netip.Addr, extra ...string) (bool, string) {
	args := append([]string{"ping", "-c", "2", "-i", "0.2", "-W", "1"}, extra...)
	out, err := nsenter(n.ns, append(args, to.String())...).CombinedOutput()
	return err == nil, string(out)
}

func TestOverlay(t *testing.T) {
	requireTools(t, "ip", "ping", "nsenter", "sysctl")
	for _, mode := range []string{ModeTCX, ModeClsact} {
		t.Run(mode, func(t *testing.T) { testOverlay(t, mode) })
	}
}

func testOverlay(t *testing.T, mode string) {
	n1, n2 := newTestNode(t, 1, mode), newTestNode(t, 2, mode)
	sh(t, "ip", "link", "add", "und0", "netns", n1.ns, "type", "veth", "peer", "name", "und0", "netns", n2.ns)
	for _, n := range []*testNode{n1, n2} {
		sh(t, "ip", "-n", n.ns, "link", "set", "und0", "mtu", fmt.Sprint(underlayMTU), "up")
		sh(t, "ip", "-n", n.ns, "addr", "add", n.underlay.String()+"/24", "dev", "und0")
	}
	a, c := n1.ctr, n2.ctr

	// Without the datapath nothing crosses.
	mustNotPing(t, a, c.ip)

	flags := ConfigTunnel | ConfigTrace
	n1.setUp(t, n2, flags)
	n2.setUp(t, n1, flags)

	t.Run("container to container", func(t *testing.T) {
		mustPing(t, a, c.ip)
		mustPing(t, c, a.ip)
		tcpExchange(t, a, c)
		tcpExchange(t, c, a)
		for _, n := range []*testNode{n1, n2} {
			if got := n.metric(t, ReasonRedirectTunnel, DirEgress); got < 4 {
				t.Errorf("%s: redirect-tunnel egress = %d, want >= 4", n.name, got)
			}
			if got := n.metric(t, ReasonDecapLocal, DirIngress); got < 4 {
				t.Errorf("%s: decap-local ingress = %d, want >= 4", n.name, got)
			}
		}
	})

	t.Run("bulk TCP", func(t *testing.T) {
		// Segments far above the MTU (GSO) must survive encapsulation.
		tcpBulk(t, a, c, 32<<20)
	})

	t.Run("VNI is the source identity", func(t *testing.T) {
		for _, tc := range []struct{ sender, receiver *testNode }{{n1, n2}, {n2, n1}} {
			var got *Event
			for _, ev := range tc.receiver.collectEvents(t) {
				if ev.Type == EventTrace && ev.TracePoint == TraceFromOverlay && ev.Src.Addr() == tc.sender.ctr.ip {
					got = &ev
					break
				}
			}
			if got == nil {
				t.Fatalf("%s: no from-overlay trace from %s", tc.receiver.name, tc.sender.ctr.ip)
			}
			if got.SrcIdentity != tc.sender.identity || got.TunnelEndpoint != tc.sender.underlay ||
				got.Dst.Addr() != tc.receiver.ctr.ip || got.DstIdentity != tc.receiver.identity {
				t.Fatalf("%s: from-overlay trace = %+v, want VNI %d from %s to %s (identity %d)", tc.receiver.name,
					*got, tc.sender.identity, tc.sender.underlay, tc.receiver.ctr.ip, tc.receiver.identity)
			}
		}
	})

	t.Run("node to remote container", func(t *testing.T) {
		encap, decap := n1.metric(t, ReasonEncapHost, DirEgress), n1.metric(t, ReasonDecapHost, DirIngress)
		if ok, out := nodePing(n1, c.ip); !ok {
			t.Fatalf("ping %s from %s failed:\n%s", c.ip, n1.name, out)
		}
		if got := n1.metric(t, ReasonEncapHost, DirEgress); got < encap+2 {
			t.Errorf("encap-host = %d, want >= %d", got, encap+2)
		}
		if got := n1.metric(t, ReasonDecapHost, DirIngress); got < decap+2 {
			t.Errorf("decap-host = %d, want >= %d", got, decap+2)
		}
		// The VNI of the node's own packets is the host identity.
		var seen bool
		for _, ev := range n2.collectEvents(t) {
			if ev.Type == EventTrace && ev.TracePoint == TraceFromOverlay && ev.Src.Addr() == n1.router {
				seen = true
				if ev.SrcIdentity != 1 {
					t.Fatalf("VNI of node traffic = %d, want 1 (host): %+v", ev.SrcIdentity, ev)
				}
			}
		}
		if !seen {
			t.Fatal("no from-overlay trace of the node's ping")
		}
		// A container reaches the remote node's router address, and its
		// own node's, which the own-CIDR entry must not send into the
		// overlay.
		mustPing(t, c, n1.router)
		mustPing(t, a, n1.router)
	})

	t.Run("MTU", func(t *testing.T) {
		// 1422 bytes of ICMP payload + 8 ICMP + 20 IP = 1450.
		out, err := nsenter(a.ns, "ping", "-c", "2", "-i", "0.2", "-W", "1", "-M", "do", "-s", "1422", c.ip.String()).CombinedOutput()
		if err != nil {
			t.Fatalf("ping -M do -s 1422 failed: %v\n%s", err, out)
		}
		out, err = nsenter(a.ns, "ping", "-c", "1", "-W", "1", "-M", "do", "-s", "1423", c.ip.String()).CombinedOutput()
		if err == nil {
			t.Fatalf("ping -M do -s 1423 passed an MTU of %d:\n%s", ctrMTU, out)
		}
	})

	t.Run("restart", func(t *testing.T) {
		before := progIDs(t, n1.w, mode, n1.bpfRoot, overlay.DefaultDevice, overlayHooks)
		n1.close(t)
		n2.close(t)
		// No agent on either node: the pins carry the traffic.
		mustPing(t, a, c.ip)
		tcpExchange(t, c, a)
		for _, n := range []*testNode{n1, n2} {
			n.open(t)
			// The agent's start sequence is idempotent.
			if err := n.w.Do(func() error {
				idx, err := overlay.Setup(n.overlayConfig(t))
				if err != nil {
					return err
				}
				if idx != n.vxIndex {
					return fmt.Errorf("device recreated: ifindex %d, was %d", idx, n.vxIndex)
				}
				return n.dp.AttachOverlay(idx, overlay.DefaultDevice)
			}); err != nil {
				t.Fatalf("%s: restart: %v", n.name, err)
			}
		}
		after := progIDs(t, n1.w, mode, n1.bpfRoot, overlay.DefaultDevice, overlayHooks)
		for i := range before {
			if before[i] == after[i] {
				t.Fatalf("overlay program %s not replaced on reopen: id %d", overlayHooks[i].name, after[i])
			}
		}
		mustPing(t, a, c.ip)
		mustPing(t, c, a.ip)
		tcpExchange(t, a, c)
	})

	t.Run("native routing", func(t *testing.T) {
		for _, tc := range []struct{ n, peer *testNode }{{n1, n2}, {n2, n1}} {
			// The kernel forwards in this mode.
			tc.n.sysctl(t, "net.ipv4.ip_forward=1")
			if err := tc.n.w.Do(func() error {
				if err := tc.n.dp.SetConfig(tc.n.nodeConfig(ConfigTrace)); err != nil {
					return err
				}
				return overlay.SetRemoteCIDRs(tc.n.overlayConfig(t), overlay.ModeNative,
					[]overlay.Remote{{CIDR: tc.peer.cidr, NodeIP: tc.peer.underlay}})
			}); err != nil {
				t.Fatalf("%s: native mode: %v", tc.n.name, err)
			}
		}
		tunneled := n1.metric(t, ReasonRedirectTunnel, DirEgress)
		mustPing(t, a, c.ip)
		mustPing(t, c, a.ip)
		tcpExchange(t, a, c)
		if ok, out := nodePing(n1, c.ip); !ok {
			t.Fatalf("node ping in native mode failed:\n%s", out)
		}
		if got := n1.metric(t, ReasonRedirectTunnel, DirEgress); got != tunneled {
			t.Fatalf("redirect-tunnel grew from %d to %d in native mode", tunneled, got)
		}
		route := sh(t, "ip", "-n", n1.ns, "route", "show", n2.cidr.String())
		if want := "via " + n2.underlay.String(); !strings.Contains(route, want) {
			t.Fatalf("route to %s = %q, want %q", n2.cidr, route, want)
		}

		// And back to the tunnel, with forwarding off again.
		for _, tc := range []struct{ n, peer *testNode }{{n1, n2}, {n2, n1}} {
			tc.n.sysctl(t, "net.ipv4.ip_forward=0")
			if err := tc.n.w.Do(func() error {
				if err := tc.n.dp.SetConfig(tc.n.nodeConfig(ConfigTunnel)); err != nil {
					return err
				}
				return overlay.SetRemoteCIDRs(tc.n.overlayConfig(t), overlay.ModeTunnel,
					[]overlay.Remote{{CIDR: tc.peer.cidr, NodeIP: tc.peer.underlay}})
			}); err != nil {
				t.Fatalf("%s: tunnel mode: %v", tc.n.name, err)
			}
		}
		mustPing(t, a, c.ip)
		if got := n1.metric(t, ReasonRedirectTunnel, DirEgress); got <= tunneled {
			t.Fatalf("redirect-tunnel = %d after switching back, want > %d", got, tunneled)
		}
	})

	t.Run("no tunnel endpoint", func(t *testing.T) {
		// Without the peer's entries, the node's own packets have nowhere
		// to go and are dropped with a reason.
		drops := n1.metric(t, ReasonDropNoTunnel, DirEgress)
		if err := n1.dp.DeleteIPCache(netip.PrefixFrom(c.ip, 32)); err != nil {
			t.Fatal(err)
		}
		if err := n1.dp.DeleteIPCache(n2.cidr); err != nil {
			t.Fatal(err)
		}
		if ok, out := nodePing(n1, c.ip, "-c", "1"); ok {
			t.Fatalf("node ping without ipcache entries passed:\n%s", out)
		}
		if got := n1.metric(t, ReasonDropNoTunnel, DirEgress); got < drops+1 {
			t.Fatalf("drop-no-tunnel = %d, want > %d", got, drops)
		}
		// The entries come back, and so does the traffic.
		if err := n1.dp.UpsertIPCache(IPCacheEntry{Prefix: netip.PrefixFrom(c.ip, 32), Identity: n2.identity, TunnelEndpoint: n2.underlay, Flags: IPCacheRemote}); err != nil {
			t.Fatal(err)
		}
		if err := n1.dp.UpsertIPCache(IPCacheEntry{Prefix: n2.cidr, Identity: 6, TunnelEndpoint: n2.underlay, Flags: IPCacheRemote}); err != nil {
			t.Fatal(err)
		}
		if ok, out := nodePing(n1, c.ip); !ok {
			t.Fatalf("node ping after restoring the entries failed:\n%s", out)
		}
	})

	t.Run("detach", func(t *testing.T) {
		mustPing(t, a, c.ip)
		for i := 0; i < 2; i++ {
			if err := n2.w.Do(func() error { return n2.dp.DetachOverlay(overlay.DefaultDevice) }); err != nil {
				t.Fatalf("DetachOverlay #%d: %v", i+1, err)
			}
		}
		// Decapsulated frames are addressed to node1's MACs: without
		// nori_from_overlay node2's stack drops them.
		mustNotPing(t, a, c.ip)
		if err := n2.w.Do(func() error { return n2.dp.AttachOverlay(n2.vxIndex, overlay.DefaultDevice) }); err != nil {
			t.Fatalf("AttachOverlay: %v", err)
		}
		mustPing(t, a, c.ip)
	})

	t.Run("policy", func(t *testing.T) { testOverlayPolicy(t, n1, n2) })
}

// testOverlayPolicy: node2's container enforces ingress against the VNI
// identity; the node1 host's VNI (host) counts as remote-node.
func testOverlayPolicy(t *testing.T, n1, n2 *testNode) {
	a, c := n1.ctr, n2.ctr
	const allowed, other = 8080, 9090
	for _, n := range []*testNode{n1, n2} {
		if err := n.dp.SetConfig(n.nodeConfig(ConfigTunnel | ConfigPolicy)); err != nil {
			t.Fatalf("%s: %v", n.name, err)
		}
	}
	ep := c.endpoint(1, n2.identity)
	ep.Flags = EndpointPolicyIngress
	if err := n2.dp.UpsertEndpoint(ep); err != nil {
		t.Fatal(err)
	}
	remoteNode := PolicyKey{EndpointID: 1, Dir: DirIngress, Identity: 6, Proto: protoICMP}
	for _, k := range []PolicyKey{
		{EndpointID: 1, Dir: DirIngress, Identity: n1.identity, Proto: protoTCP, Port: allowed, PortBits: 16},
		remoteNode,
	} {
		if err := n2.dp.UpsertPolicy(k, PolicyValue{Verdict: PolicyAllow, RuleID: 5}); err != nil {
			t.Fatal(err)
		}
	}
	cw := newNSWorker(t, c.ns)
	if err := tcpTryFrom(t, newNSWorker(t, a.ns), cw, c.ip, allowed); err != nil {
		t.Fatalf("A -> C:%d: %v", allowed, err)
	}
	before := n2.metric(t, ReasonDropPolicy, DirIngress)
	if err := tcpTryFrom(t, newNSWorker(t, a.ns), cw, c.ip, other); err == nil {
		t.Fatalf("A -> C:%d connected", other)
	}
	if got := n2.metric(t, ReasonDropPolicy, DirIngress); got <= before {
		t.Fatalf("%s: drop-policy ingress = %d, want > %d", n2.name, got, before)
	}
	// A's identity has no ICMP entry; node1's host (remote-node) has.
	mustNotPing(t, a, c.ip)
	if ok, out := nodePing(n1, c.ip); !ok {
		t.Fatalf("remote-node ping failed:\n%s", out)
	}
	if err := n2.dp.DeletePolicy(remoteNode); err != nil {
		t.Fatal(err)
	}
	if ok, out := nodePing(n1, c.ip, "-c", "1"); ok {
		t.Fatalf("remote-node ping passed without its entry:\n%s", out)
	}
	// C's replies to A's allowed flow passed on node1 without any
	// entry on node1's side; node2's conntrack holds the flow with the
	// VNI identity.
	ct, err := n2.dp.ListCT()
	if err != nil {
		t.Fatal(err)
	}
	var seen bool
	for _, e := range ct {
		seen = seen || (e.Src.Addr() == a.ip && e.Dst == netip.AddrPortFrom(c.ip, allowed) && !e.Reply && e.SrcIdentity == n1.identity)
	}
	if !seen {
		t.Fatalf("%s: no conntrack entry of A -> C:%d with identity %d: %+v", n2.name, allowed, n1.identity, ct)
	}

	// Native routing: node2's stack delivers A's packets to C through
	// nori_to_container, which takes A's identity from the ipcache.
	for _, tc := range []struct{ n, peer *testNode }{{n1, n2}, {n2, n1}} {
		tc.n.sysctl(t, "net.ipv4.ip_forward=1")
		if err := tc.n.w.Do(func() error {
			if err := tc.n.dp.SetConfig(tc.n.nodeConfig(ConfigPolicy)); err != nil {
				return err
			}
			return overlay.SetRemoteCIDRs(tc.n.overlayConfig(t), overlay.ModeNative,
				[]overlay.Remote{{CIDR: tc.peer.cidr, NodeIP: tc.peer.underlay}})
		}); err != nil {
			t.Fatalf("%s: native mode: %v", tc.n.name, err)
		}
	}
	if err := tcpTryFrom(t, newNSWorker(t, a.ns), cw, c.ip, allowed); err != nil {
		t.Fatalf("native: A -> C:%d: %v", allowed, err)
	}
	before = n2.metric(t, ReasonDropPolicy, DirIngress)
	if err := tcpTryFrom(t, newNSWorker(t, a.ns), cw, c.ip, other); err == nil {
		t.Fatalf("native: A -> C:%d connected", other)
	}
	if got := n2.metric(t, ReasonDropPolicy, DirIngress); got <= before {
		t.Fatalf("native: %s drop-policy ingress = %d, want > %d", n2.name, got, before)
	}
}

// tcpBulk sends n bytes from client to server over one TCP connection and
// checks that all of them arrive.
func tcpBulk(t *testing.T, client, server container, n int64) {
	t.Helper()
	sw, cw := newNSWorker(t, server.ns), newNSWorker(t, client.ns)
	var ln net.Listener
	if err := sw.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(server.ip, 0).String())
		return err
	}); err != nil {
		t.Fatalf("listen in %s: %v", server.ns, err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		m, _ := io.Copy(io.Discard, conn)
		got <- m
	}()
	var conn net.Conn
	if err := cw.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp4", ln.Addr().String(), 3*time.Second)
		return err
	}); err != nil {
		t.Fatalf("dial %s from %s: %v", ln.Addr(), client.ip, err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	if _, err := io.CopyN(conn, zeroReader{}, n); err != nil {
		conn.Close()
		t.Fatalf("send %d bytes: %v", n, err)
	}
	conn.Close()
	if m := <-got; m != n {
		t.Fatalf("received %d bytes, want %d", m, n)
	}
	t.Logf("%d MiB in %v", n>>20, time.Since(start).Round(time.Millisecond))
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
