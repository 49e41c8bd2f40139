// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
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
// agent does, dials the original destination from the node with the
// client's upstream mark and relays one exchange.
func serveRelay(dp *Datapath, w *nsWorker, ln *net.TCPListener, seen chan<- proxied) {
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
	p.upstream = w.Do(func() (err error) {
		d := net.Dialer{Timeout: 2 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(UpstreamMark(p.ct.SrcIdentity)))
			}); err != nil {
				return err
			}
			return serr
		}}
		up, err = d.Dial("tcp4", p.orig.String())
		return err
	})
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

	var dp *Datapath
	if err := w.Do(func() (err error) {
		dp, err = Open(Config{BPFRoot: bpfRoot, Logger: testLogger(t)})
		return err
	}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { dp.Close() })
	const (
		idA, idB   = 1000, 1001
		tlsPort    = 443
		noListener = 8443
		badEntry   = 9443
	)
	epA := a.endpoint(1, idA)
	epB := b.endpoint(2, idB)
	epB.Flags = EndpointPolicyIngress
	if err := w.Do(func() error {
		if err := dp.SetConfig(NodeConfig{RouterIP: netip.MustParseAddr(routerIP),
			ClusterCIDR: netip.MustParsePrefix("10.200.0.0/16"), NodeIP: netip.MustParseAddr("172.30.0.1"),
			Flags: ConfigPolicy}); err != nil {
			return err
		}
		for _, c := range []container{a, b} {
			if err := dp.AttachEndpoint(c.ifindex, c.lxcName); err != nil {
				return err
			}
		}
		for _, e := range []Endpoint{epA, epB} {
			if err := dp.UpsertEndpoint(e); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("set up: %v", err)
	}

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
		go serveRelay(dp, w, ln, seen)
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
