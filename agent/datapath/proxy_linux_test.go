// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listenTransparent is the agent's proxy listener in miniature: TCP with
// IP_TRANSPARENT and without MPTCP, on loopback.
func listenTransparent(t *testing.T, w *nsWorker) *net.TCPListener {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	lc.SetMultipathTCP(false)
	var ln net.Listener
	if err := w.Do(func() (err error) {
		ln, err = lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatalf("listen transparent: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener)
}

// proxied is what the test proxy saw of one connection.
type proxied struct {
	orig     netip.AddrPort
	ct       CTEntry
	ctFound  bool
	upstream error
}

// serveRelay accepts one connection on ln, looks up its flow as the
// agent does, dials the original destination with dial and relays one
// exchange.
func serveRelay(dp *Datapath, ln *net.TCPListener, seen chan<- proxied, dial func(orig netip.AddrPort, ct CTEntry) (net.Conn, error)) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var p proxied
	p.orig = netip.MustParseAddrPort(c.LocalAddr().String())
	remote := netip.MustParseAddrPort(c.RemoteAddr().String())
	p.ct, p.ctFound, _ = dp.LookupCT(protoTCP, remote, p.orig)
	var up net.Conn
	up, p.upstream = dial(p.orig, p.ct)
	seen <- p
	if p.upstream != nil {
		return
	}
	defer up.Close()
	up.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return
	}
	if _, err := up.Write(append([]byte("via-proxy:"), buf[:n]...)); err != nil {
		return
	}
	n, err = up.Read(buf)
	if err != nil && err != io.EOF {
		return
	}
	c.Write(buf[:n])
}

// markedDial dials from the node (w) with the client's upstream mark, as
// the node's listeners do.
func markedDial(w *nsWorker) func(netip.AddrPort, CTEntry) (net.Conn, error) {
	return func(orig netip.AddrPort, ct CTEntry) (up net.Conn, err error) {
		err = w.Do(func() (err error) {
			d := net.Dialer{Timeout: 2 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				if err := rc.Control(func(fd uintptr) {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(UpstreamMark(ct.SrcIdentity)))
				}); err != nil {
					return err
				}
				return serr
			}}
			up, err = d.Dial("tcp4", orig.String())
			return err
		})
		return up, err
	}
}

// plainDial dials from the destination's netns (w), unmarked, as the
// listeners inside endpoints' netns do.
func plainDial(w *nsWorker) func(netip.AddrPort, CTEntry) (net.Conn, error) {
	return func(orig netip.AddrPort, _ CTEntry) (up net.Conn, err error) {
		err = w.Do(func() (err error) {
			up, err = net.DialTimeout("tcp4", orig.String(), 2*time.Second)
			return err
		})
		return up, err
	}
}

// TestProxyRedirect steers a local flow to a transparent listener: the
// accepted socket has the original destination, conntrack names the
// client and the proxy port, the proxy's marked upstream connection
// passes the destination's policy as the client, and without a listener
// (or with a redirect that names none) the flow is dropped, not passed.
func TestProxyRedirect(t *testing.T) {
	requireTools(t, "ip", "nsenter")
	bpfRoot := mountBPFFS(t)
	node := newNetNS(t, "xnode")
	a := addContainer(t, node, "xctra", "10.200.1.2", "lxcxa")
	b := addContainer(t, node, "xctrb", "10.200.1.3", "lxcxb")
	// The node's own address (the proxy's upstream source) and the
	// proxy routing the agent installs (agent/hostnet).
	sh(t, "ip", "-n", node, "addr", "add", "172.30.0.1/32", "dev", "lo")
	sh(t, "ip", "-n", node, "link", "set", "lo", "up")
	sh(t, "ip", "-n", node, "rule", "add", "fwmark", fmt.Sprintf("%#x/%#x", MarkToProxy, MarkMagicMask), "lookup", "2004", "pref", "9")
	sh(t, "ip", "-n", node, "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "2004")
	w := newNSWorker(t, node)

	dp := openIn(t, w, bpfRoot)
	const (
		idA, idB   = 1000, 1001
		tlsPort    = 443
		noListener = 8443
		badEntry   = 9443
	)
	epA := a.endpoint(1, idA)
	epB := b.endpoint(2, idB)
	epB.Flags = EndpointPolicyIngress
	wirePolicyNode(t, w, dp, []container{a, b}, []Endpoint{epA, epB})

	ln := listenTransparent(t, w)
	proxyPort := uint16(ln.Addr().(*net.TCPAddr).Port)
	if err := dp.RegisterProxyListener(proxyPort, ln); err != nil {
		t.Fatalf("RegisterProxyListener: %v", err)
	}
	redirect := func(port, proxy uint16) {
		k := PolicyKey{EndpointID: 2, Dir: DirIngress, Identity: idA, Proto: protoTCP, Port: port, PortBits: 16}
		if err := dp.UpsertPolicy(k, PolicyValue{Verdict: PolicyAllow, Redirect: true, ProxyPort: proxy, RuleID: 7}); err != nil {
			t.Fatalf("UpsertPolicy: %v", err)
		}
	}
	redirect(tlsPort, proxyPort)
	redirect(noListener, proxyPort+1)
	redirect(badEntry, 0)
	metric := func(r Reason) uint64 {
		m, err := dp.Metrics()
		if err != nil {
			t.Fatal(err)
		}
		// From a container's veth the redirect counts as egress.
		return m[MetricKey{r, DirIngress}].Packets + m[MetricKey{r, DirEgress}].Packets
	}

	t.Run("steered with its original destination", func(t *testing.T) {
		seen := make(chan proxied, 1)
		go serveRelay(dp, ln, seen, markedDial(w))
		before := metric(ReasonRedirectProxy)
		// B's server answers what it got, so the echo shows the relay.
		if err := tcpTry(t, a, b, tlsPort); err == nil {
			// tcpTry wants "echo:hi"; through the relay it is
			// "echo:via-proxy:hi", which tcpTry reports as an error.
			t.Fatal("A -> B:443 was answered by B directly, not through the proxy")
		} else if want := `echo = "echo:via-proxy:hi"`; err.Error() != want {
			t.Fatalf("A -> B:443: %v, want the relayed answer (%s)", err, want)
		}
		var p proxied
		select {
		case p = <-seen:
		case <-time.After(5 * time.Second):
			t.Fatal("the proxy accepted nothing")
		}
		if want := netip.AddrPortFrom(b.ip, tlsPort); p.orig != want {
			t.Errorf("accepted socket's local address %v, want the original destination %v", p.orig, want)
		}
		if !p.ctFound || p.ct.ProxyPort != proxyPort || p.ct.SrcIdentity != idA || p.ct.DstIdentity != idB {
			t.Errorf("conntrack of the steered flow: found %v, %+v; want proxy port %d, identities %d → %d",
				p.ctFound, p.ct, proxyPort, idA, idB)
		}
		if p.upstream != nil {
			t.Errorf("proxy's marked upstream to B:443: %v", p.upstream)
		}
		if got := metric(ReasonRedirectProxy); got <= before {
			t.Errorf("redirect-proxy = %d, want > %d", got, before)
		}
	})
	t.Run("a listener that is gone fails closed", func(t *testing.T) {
		before := metric(ReasonDropNoProxy)
		if err := tcpTry(t, a, b, noListener); err == nil {
			t.Fatalf("A -> B:%d connected although its proxy listener does not exist", noListener)
		}
		if got := metric(ReasonDropNoProxy); got <= before {
			t.Errorf("drop-no-proxy = %d, want > %d", got, before)
		}
	})
	t.Run("a redirect without a proxy port denies", func(t *testing.T) {
		before := metric(ReasonDropPolicyDeny)
		if err := tcpTry(t, a, b, badEntry); err == nil {
			t.Fatalf("A -> B:%d connected although its redirect names no proxy port", badEntry)
		}
		if got := metric(ReasonDropPolicyDeny); got <= before {
			t.Errorf("drop-policy-deny = %d, want > %d", got, before)
		}
	})
}

// TestProxyNetnsRedirect hands ingress flows of an endpoint with
// EndpointProxyNetns to a listener inside its own netns (sk_lookup): from
// another container and from the node stack, with the original
// destination and the proxy port in conntrack. A port the policy allows
// at L4 still reaches the application, and a flow whose listener is
// missing is refused rather than passed to the application.
func TestProxyNetnsRedirect(t *testing.T) {
	requireTools(t, "ip", "nsenter")
	bpfRoot := mountBPFFS(t)
	node := newNetNS(t, "ynode")
	a := addContainer(t, node, "yctra", "10.200.2.2", "lxcya")
	b := addContainer(t, node, "yctrb", "10.200.2.3", "lxcyb")
	sh(t, "ip", "-n", b.ns, "link", "set", "lo", "up")
	// The node's own address: its connections count as the host.
	sh(t, "ip", "-n", node, "addr", "add", "172.30.0.1/32", "dev", "lo")
	sh(t, "ip", "-n", node, "link", "set", "lo", "up")
	w := newNSWorker(t, node)
	bw := newNSWorker(t, b.ns)

	dp := openIn(t, w, bpfRoot)
	const (
		idA, idB   = 1000, 1001
		idHost     = 1     // reserved:host
		proxyPort  = 15001 // the node listener's port, as the policy names it
		tlsPort    = 443
		plainPort  = 8080
		noListener = 8443
	)
	epA := a.endpoint(1, idA)
	epB := b.endpoint(2, idB)
	epB.Flags = EndpointPolicyIngress | EndpointProxyNetns
	wirePolicyNode(t, w, dp, []container{a, b}, []Endpoint{epA, epB})

	var ln *net.TCPListener
	if err := bw.Do(func() error {
		lc := net.ListenConfig{}
		lc.SetMultipathTCP(false) // the socket map refuses MPTCP sockets
		l, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ln = l.(*net.TCPListener)
		return nil
	}); err != nil {
		t.Fatalf("listen in B's netns: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	if err := dp.RegisterNetnsProxyListener(b.ip, proxyPort, ln); err != nil {
		t.Fatalf("RegisterNetnsProxyListener: %v", err)
	}
	ns, err := os.Open("/run/netns/" + b.ns)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := dp.AttachProxyLookup(2, ns); err != nil {
		t.Fatalf("AttachProxyLookup: %v", err)
	}
	// Idempotent: a second call re-points the same attachment.
	if err := dp.AttachProxyLookup(2, ns); err != nil {
		t.Fatalf("AttachProxyLookup again: %v", err)
	}
	entry := func(peer uint32, port, proxy uint16) {
		k := PolicyKey{EndpointID: 2, Dir: DirIngress, Identity: peer, Proto: protoTCP, Port: port, PortBits: 16}
		v := PolicyValue{Verdict: PolicyAllow, Redirect: proxy != 0, ProxyPort: proxy, RuleID: 7}
		if err := dp.UpsertPolicy(k, v); err != nil {
			t.Fatalf("UpsertPolicy: %v", err)
		}
	}
	entry(idA, tlsPort, proxyPort)
	entry(idHost, tlsPort, proxyPort)
	entry(idA, plainPort, 0)
	entry(idA, noListener, proxyPort+1)
	metric := func(r Reason) uint64 {
		m, err := dp.Metrics()
		if err != nil {
			t.Fatal(err)
		}
		return m[MetricKey{r, DirIngress}].Packets + m[MetricKey{r, DirEgress}].Packets
	}
	relayed := func(t *testing.T, err error, client netip.Addr, clientID uint32, seen chan proxied) {
		t.Helper()
		if want := `echo = "echo:via-proxy:hi"`; err == nil || err.Error() != want {
			t.Fatalf("-> B:443: %v, want the relayed answer (%s)", err, want)
		}
		var p proxied
		select {
		case p = <-seen:
		case <-time.After(5 * time.Second):
			t.Fatal("the listener in B's netns accepted nothing")
		}
		if want := netip.AddrPortFrom(b.ip, tlsPort); p.orig != want {
			t.Errorf("accepted socket's local address %v, want the original destination %v", p.orig, want)
		}
		if !p.ctFound || p.ct.ProxyPort != proxyPort || p.ct.Flags&CTProxyNetns == 0 ||
			p.ct.SrcIdentity != clientID || p.ct.DstIdentity != idB || p.ct.Src.Addr() != client {
			t.Errorf("conntrack of the flow: found %v, %+v; want %v, proxy port %d with proxy-netns, identities %d → %d",
				p.ctFound, p.ct, client, proxyPort, clientID, idB)
		}
		if p.upstream != nil {
			t.Errorf("upstream from B's netns to B:443: %v", p.upstream)
		}
	}

	t.Run("from a container to the listener in the destination's netns", func(t *testing.T) {
		seen := make(chan proxied, 1)
		go serveRelay(dp, ln, seen, plainDial(bw))
		before := metric(ReasonRedirectProxy)
		relayed(t, tcpTry(t, a, b, tlsPort), a.ip, idA, seen)
		if got := metric(ReasonRedirectProxy); got <= before {
			t.Errorf("redirect-proxy = %d, want > %d", got, before)
		}
	})
	t.Run("from the node stack too (no drop-proxy-path)", func(t *testing.T) {
		seen := make(chan proxied, 1)
		go serveRelay(dp, ln, seen, plainDial(bw))
		relayed(t, tcpTryFrom(t, w, bw, b.ip, tlsPort), netip.MustParseAddr("172.30.0.1"), idHost, seen)
	})
	t.Run("a port allowed at L4 reaches the application", func(t *testing.T) {
		if err := tcpTry(t, a, b, plainPort); err != nil {
			t.Fatalf("A -> B:%d: %v", plainPort, err)
		}
	})
	t.Run("a missing listener fails closed", func(t *testing.T) {
		before := metric(ReasonDropNoProxy)
		if err := tcpTry(t, a, b, noListener); err == nil {
			t.Fatalf("A -> B:%d reached the application although its proxy listener does not exist", noListener)
		}
		if got := metric(ReasonDropNoProxy); got <= before {
			t.Errorf("drop-no-proxy = %d, want > %d", got, before)
		}
	})
	t.Run("detached", func(t *testing.T) {
		if err := dp.DetachProxyLookup(2); err != nil {
			t.Fatalf("DetachProxyLookup: %v", err)
		}
		if err := dp.DetachProxyLookup(2); err != nil {
			t.Fatalf("DetachProxyLookup of a detached endpoint: %v", err)
		}
	})
}
