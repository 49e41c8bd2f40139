// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package health

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nori-net/nori/agent/node"
)

const inNetnsEnv = "NORI_HEALTH_TEST_IN_NETNS"

// TestMain runs the tests again inside a network namespace of their own
// (a new one for the whole process, so every goroutine's sockets are in
// it), where lo is the only device: probes never leave it, and the
// namespace disappears with the process, also when a test fails.
func TestMain(m *testing.M) {
	if os.Getenv(inNetnsEnv) == "" {
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = append(os.Environ(), inNetnsEnv+"=1")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				os.Exit(ee.ExitCode())
			}
			fmt.Fprintf(os.Stderr, "run tests in a new network namespace (needs root): %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bring lo up in the test namespace: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func startServer(t *testing.T, ip, name string) *Server {
	t.Helper()
	s, err := NewServer(ServerConfig{IP: netip.MustParseAddr(ip), NodeName: name})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testNode(name, cidr string) node.Node {
	return node.Node{Name: name, IPv4: netip.MustParseAddr("172.30.0.1"), IPv4CIDR: netip.MustParsePrefix(cidr)}
}

func TestServerHello(t *testing.T) {
	s := startServer(t, "127.0.0.2", "host2")
	resp, err := http.Get("http://" + s.Addr().String() + PathHello)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "host2" {
		t.Fatalf("GET /hello: %s %q", resp.Status, body)
	}
}

func TestProber(t *testing.T) {
	startServer(t, "127.0.0.2", "host2")
	nodes := []node.Node{
		testNode("host1", "127.0.1.0/24"), // the local node: not probed
		testNode("host2", "127.0.0.0/30"), // health 127.0.0.2, serving
		testNode("host3", "127.0.0.4/30"), // health 127.0.0.6: answers ping, no server
		testNode("host4", "10.99.0.0/24"), // health 10.99.0.254: no route
	}
	tests := []struct {
		name        string
		disableICMP bool
		want        map[string]string // node → NodeHealth prefix
		reachable   int
	}{
		{"icmp and http", false, map[string]string{
			"host1": "local",
			"host2": "reachable (",
			"host3": "unreachable (http: refused)",
			"host4": "unreachable (icmp: ",
		}, 2},
		{"http only", true, map[string]string{
			"host2": "reachable (",
			"host3": "unreachable (http: refused)",
			"host4": "unreachable (http: ",
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewProber(ProberConfig{LocalName: "host1", Nodes: func() []node.Node { return nodes }, Timeout: 500 * time.Millisecond, DisableICMP: tt.disableICMP})
			if c := p.Status().Component(); c.Message != "1/1 reachable (first probe pending)" {
				t.Errorf("component before the first round: %+v", c)
			}
			start := time.Now()
			p.ProbeOnce(context.Background())
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("a round took %s with a 500ms timeout", d)
			}
			st := p.Status()
			for name, want := range tt.want {
				if got := st.NodeHealth(name); !strings.HasPrefix(got, want) {
					t.Errorf("NodeHealth(%s) = %q, want prefix %q", name, got, want)
				}
			}
			if r, total := st.Counts(); r != tt.reachable || total != 4 {
				t.Errorf("counts %d/%d, want %d/4", r, total, tt.reachable)
			}
			c := st.Component()
			if c.State != "Warning" || !strings.HasPrefix(c.Message, fmt.Sprintf("%d/4 reachable, unreachable: host3", tt.reachable)) {
				t.Errorf("component %+v", c)
			}
			for _, n := range st.Nodes {
				if n.Name == "host2" && (n.HTTP.Latency <= 0 || n.LastProbe.IsZero()) {
					t.Errorf("host2 status without latency: %+v", n)
				}
				if n.Name == "host4" && n.HTTP.LastError == "" {
					t.Errorf("host4 without an error: %+v", n)
				}
			}
			if got := st.NodeHealth("host9"); got != "unknown" {
				t.Errorf("NodeHealth of an unknown node = %q", got)
			}
		})
	}
}

// The server binds its address before it exists on a device (the agent
// may start it before the address is on nori_host), and a node turns
// reachable once it does.
func TestServerBeforeAddressAndRecovery(t *testing.T) {
	s := startServer(t, "10.98.0.254", "host5")
	nodes := []node.Node{testNode("host5", "10.98.0.0/24")}
	p := NewProber(ProberConfig{LocalName: "host1", Nodes: func() []node.Node { return nodes }, Timeout: 300 * time.Millisecond})
	p.ProbeOnce(context.Background())
	if r, _ := p.Status().Counts(); r != 1 {
		t.Fatalf("host5 reachable before its address exists: %+v", p.Status())
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	addr := &netlink.Addr{IPNet: netlink.NewIPNet(netip.MustParseAddr("10.98.0.254").AsSlice())}
	if err := netlink.AddrAdd(lo, addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlink.AddrDel(lo, addr) })
	p.ProbeOnce(context.Background())
	if st := p.Status(); st.Component().Message != "2/2 reachable" {
		t.Fatalf("after the address was added: %+v", st)
	}
	s.Close()
	p.ProbeOnce(context.Background())
	if got := p.Status().NodeHealth("host5"); got != "unreachable (http: refused)" {
		t.Fatalf("after the server stopped: %q", got)
	}
}

// Run probes until the context ends and drops nodes that left the list.
func TestProberRun(t *testing.T) {
	startServer(t, "127.0.0.2", "host2")
	nodes := make(chan []node.Node, 1)
	nodes <- []node.Node{testNode("host2", "127.0.0.0/30")}
	current := []node.Node{}
	p := NewProber(ProberConfig{LocalName: "host1", Interval: 50 * time.Millisecond, Nodes: func() []node.Node {
		select {
		case current = <-nodes:
		default:
		}
		return current
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "host2 probed", func() bool { return p.Status().Component().Message == "2/2 reachable" })
	nodes <- nil
	waitFor(t, "host2 forgotten", func() bool { return len(p.Status().Nodes) == 0 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
