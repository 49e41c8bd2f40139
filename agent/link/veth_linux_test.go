// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package link

import (
	"github.com/nori-net/nori/agent/internal/netnstest"

	"errors"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

func newNetns(t *testing.T, prefix string) string { return netnstest.New(t, prefix) }

// inNetns runs fn on a thread that lives in the named namespace.
func inNetns(t *testing.T, name string, fn func()) {
	t.Helper()
	_ = netnstest.NewWorker(t, name).Do(func() error { fn(); return nil })
}

func TestSetupCheckTeardown(t *testing.T) {
	node := newNetns(t, "nori-lt-node")
	ctr := newNetns(t, "nori-lt-ctr")
	ip := netip.MustParseAddr("10.99.0.7")
	router := netip.MustParseAddr("10.99.0.1")
	cfg := Config{
		ContainerID: "c1",
		IfName:      "eth0",
		Netns:       "/run/netns/" + ctr,
		HostIfName:  HostIfName("c1", "eth0"),
		MTU:         1450,
		Addrs:       []netip.Addr{ip},
		Router:      router,
	}
	inNetns(t, node, func() {
		v, err := Setup(cfg)
		if err != nil {
			t.Fatalf("Setup: %v", err)
		}
		if v.HostName != cfg.HostIfName || len(v.HostMAC) != 6 || len(v.ContainerMAC) != 6 {
			t.Fatalf("unexpected veth %+v", v)
		}
		if err := Check(cfg); err != nil {
			t.Fatalf("Check: %v", err)
		}
		// A second ADD of the same interface must fail, as CNI requires.
		if _, err := Setup(cfg); !errors.Is(err, ErrExists) {
			t.Fatalf("second Setup: want ErrExists, got %v", err)
		}
		routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range routes {
			if r.Dst != nil && r.Dst.String() == "10.99.0.7/32" && r.LinkIndex == v.HostIndex {
				found = true
			}
		}
		if !found {
			t.Errorf("host route to %s via %s missing: %v", ip, cfg.HostIfName, routes)
		}
		if err := Teardown(cfg.HostIfName); err != nil {
			t.Fatalf("Teardown: %v", err)
		}
		if err := Teardown(cfg.HostIfName); err != nil {
			t.Fatalf("second Teardown must succeed: %v", err)
		}
		if err := Check(cfg); err == nil {
			t.Fatal("Check after Teardown succeeded")
		}
	})
	out, _ := exec.Command("ip", "-n", ctr, "-o", "link").CombinedOutput()
	if strings.Contains(string(out), "eth0") {
		t.Errorf("container still has eth0 after teardown: %s", out)
	}
}

func TestContainerSideConfig(t *testing.T) {
	node := newNetns(t, "nori-lt-node")
	ctr := newNetns(t, "nori-lt-ctr")
	cfg := Config{
		ContainerID: "c2", IfName: "eth0", Netns: "/run/netns/" + ctr,
		HostIfName: HostIfName("c2", "eth0"), MTU: 1400,
		Addrs:  []netip.Addr{netip.MustParseAddr("10.99.1.9")},
		Router: netip.MustParseAddr("10.99.1.1"),
	}
	inNetns(t, node, func() {
		if _, err := Setup(cfg); err != nil {
			t.Fatalf("Setup: %v", err)
		}
	})
	for _, c := range []struct{ args, want string }{
		{"-4 -o addr show dev eth0", "10.99.1.9/32"},
		{"route show default", "default via 10.99.1.1 dev eth0"},
		{"route show default", "mtu 1400"},
		{"neigh show 10.99.1.1", "PERMANENT"},
		{"link show lo", "UP"},
	} {
		out, err := exec.Command("ip", append([]string{"-n", ctr}, strings.Fields(c.args)...)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), c.want) {
			t.Errorf("ip %s: want %q in %q (err %v)", c.args, c.want, out, err)
		}
	}
}

func TestSetupMissingNetns(t *testing.T) {
	node := newNetns(t, "nori-lt-node")
	inNetns(t, node, func() {
		_, err := Setup(Config{ContainerID: "c3", IfName: "eth0", Netns: "/run/netns/does-not-exist-nori",
			HostIfName: HostIfName("c3", "eth0"), Addrs: []netip.Addr{netip.MustParseAddr("10.99.2.2")},
			Router: netip.MustParseAddr("10.99.2.1")})
		if !errors.Is(err, ErrNetnsGone) {
			t.Fatalf("want ErrNetnsGone, got %v", err)
		}
	})
}

func TestHostIfName(t *testing.T) {
	a, b := HostIfName("x", "eth0"), HostIfName("x", "eth1")
	if a == b || len(a) != 14 || !hostIfPrefixOK(a) {
		t.Fatalf("bad names %q %q", a, b)
	}
	if HostIfName("x", "eth0") != a {
		t.Fatal("HostIfName is not deterministic")
	}
}

func hostIfPrefixOK(s string) bool { return strings.HasPrefix(s, "lxc") }
