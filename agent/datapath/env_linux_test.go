// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"github.com/nori-net/nori/agent/internal/netnstest"

	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Test environment: a private bpffs and network namespaces made with
// iproute2. Every name carries the test's PID so parallel runs on one
// machine do not collide; every object is removed in t.Cleanup.

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("datapath kernel tests need root (run go test as root)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (apt-get install -y iproute2 iputils-ping util-linux): %v", tool, err)
		}
	}
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// mountBPFFS mounts a bpffs of its own on a temp dir. Unmounting it also
// drops every pin in it, TCX links included.
func mountBPFFS(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bpffs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mount bpffs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// newNetNS creates a named netns with lo up.
func newNetNS(t *testing.T, role string) string {
	t.Helper()
	return netnstest.New(t, "noridp-"+role)
}

func nsenter(ns string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns}, args...)...)
}

// nsWorker runs functions on one OS thread that sits in a netns, the way
// the agent runs inside the node's netns.
type nsWorker = netnstest.Worker

func newNSWorker(t *testing.T, ns string) *nsWorker { return netnstest.NewWorker(t, ns) }

// container is one simulated container: a netns with eth0, whose peer
// lxcName sits in the node netns.
type container struct {
	ns      string
	ip      netip.Addr
	lxcName string
	ifindex int
	mac     net.HardwareAddr // eth0 inside the container
	nodeMAC net.HardwareAddr // lxcName in the node netns
}

const routerIP = "169.254.1.1"

// addContainer wires a container to the node netns as nori-cni will
// (research/spike.md §3, agent/link): /32 address, route to the router
// IP, a static neighbour for it pointing at the host-side MAC, default
// route via it; on the node a /32 route and a static neighbour for the
// container.
func addContainer(t *testing.T, node, role, ip, lxc string) container {
	t.Helper()
	return addContainerVia(t, node, role, ip, lxc, routerIP, 0)
}

// addContainerVia is addContainer with the node's router address and,
// when mtu > 0, the MTU of both veth ends and of the default route.
func addContainerVia(t *testing.T, node, role, ip, lxc, router string, mtu int) container {
	t.Helper()
	ns := newNetNS(t, role)
	sh(t, "ip", "link", "add", lxc, "netns", node, "type", "veth", "peer", "name", "eth0", "netns", ns)
	if mtu > 0 {
		sh(t, "ip", "-n", node, "link", "set", lxc, "mtu", strconv.Itoa(mtu))
		sh(t, "ip", "-n", ns, "link", "set", "eth0", "mtu", strconv.Itoa(mtu))
	}
	sh(t, "ip", "-n", node, "link", "set", lxc, "up")
	sh(t, "ip", "-n", ns, "addr", "add", ip+"/32", "dev", "eth0")
	sh(t, "ip", "-n", ns, "link", "set", "eth0", "up")
	c := container{ns: ns, ip: netip.MustParseAddr(ip), lxcName: lxc}
	nodeLink := linkIn(t, node, lxc)
	c.ifindex = nodeLink.Attrs().Index
	c.nodeMAC = nodeLink.Attrs().HardwareAddr
	c.mac = linkIn(t, ns, "eth0").Attrs().HardwareAddr
	sh(t, "ip", "-n", ns, "route", "add", router, "dev", "eth0", "scope", "link")
	def := []string{"ip", "-n", ns, "route", "add", "default", "via", router, "dev", "eth0"}
	if mtu > 0 {
		def = append(def, "mtu", strconv.Itoa(mtu))
	}
	sh(t, def...)
	sh(t, "ip", "-n", ns, "neigh", "add", router, "lladdr", c.nodeMAC.String(), "dev", "eth0", "nud", "permanent")
	sh(t, "ip", "-n", node, "neigh", "replace", ip, "lladdr", c.mac.String(), "dev", lxc, "nud", "permanent")
	sh(t, "ip", "-n", node, "route", "replace", ip+"/32", "dev", lxc, "scope", "link")
	return c
}

func linkIn(t *testing.T, ns, name string) netlink.Link {
	t.Helper()
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatalf("open netns %s: %v", ns, err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", ns, err)
	}
	defer nh.Close()
	l, err := nh.LinkByName(name)
	if err != nil {
		t.Fatalf("find %s in %s: %v", name, ns, err)
	}
	return l
}

func (c container) endpoint(id uint16, identity uint32) Endpoint {
	return Endpoint{IP: c.ip, IfIndex: c.ifindex, MAC: c.mac, NodeMAC: c.nodeMAC, ID: id, Identity: identity}
}

// ping reports whether from reaches to within a short time.
func ping(from container, to netip.Addr) (bool, string) {
	out, err := nsenter(from.ns, "ping", "-c", "2", "-i", "0.2", "-W", "1", to.String()).CombinedOutput()
	return err == nil, string(out)
}

func mustPing(t *testing.T, from container, to netip.Addr) {
	t.Helper()
	if ok, out := ping(from, to); !ok {
		t.Fatalf("ping %s -> %s failed:\n%s", from.ip, to, out)
	}
}

func mustNotPing(t *testing.T, from container, to netip.Addr) {
	t.Helper()
	out, err := nsenter(from.ns, "ping", "-c", "1", "-W", "1", to.String()).CombinedOutput()
	if err == nil {
		t.Fatalf("ping %s -> %s succeeded, want failure:\n%s", from.ip, to, out)
	}
}

// tcpExchange opens a TCP connection from client to server (sockets made
// inside the container netns) and checks a request and its echo.
func tcpExchange(t *testing.T, client, server container) {
	t.Helper()
	if err := tcpTry(t, client, server, 0); err != nil {
		t.Fatalf("tcp %s -> %s: %v", client.ip, server.ip, err)
	}
}
