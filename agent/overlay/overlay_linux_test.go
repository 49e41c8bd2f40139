// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package overlay

import (
	"github.com/nori-net/nori/agent/internal/netnstest"

	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// Kernel tests: each runs in a network namespace it creates (named after
// the test's PID) and deletes on cleanup. The forwarding itself is tested
// with the BPF programs in agent/datapath (TestOverlay).

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNetNS creates a netns and returns a function that runs fn on an OS
// thread inside it.
func inNetNS(t *testing.T) (string, func(fn func() error) error) {
	t.Helper()
	name := netnstest.New(t, "noriovl")
	return name, netnstest.NewWorker(t, name).Do
}

func testConfig(t *testing.T) Config {
	return Config{MTU: 1450, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestSetup(t *testing.T) {
	ns, do := inNetNS(t)
	cfg := testConfig(t)
	var idx int
	if err := do(func() (err error) { idx, err = Setup(cfg); return err }); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	var vx *netlink.Vxlan
	check := func(wantPort, wantMTU int) {
		t.Helper()
		if err := do(func() error {
			l, err := netlink.LinkByName(DefaultDevice)
			if err != nil {
				return err
			}
			var ok bool
			if vx, ok = l.(*netlink.Vxlan); !ok {
				return fmt.Errorf("%s is a %s", DefaultDevice, l.Type())
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		a := vx.Attrs()
		switch {
		case !vx.FlowBased:
			t.Fatal("device is not in external mode")
		case vx.Port != wantPort:
			t.Fatalf("port = %d, want %d", vx.Port, wantPort)
		case a.MTU != wantMTU:
			t.Fatalf("mtu = %d, want %d", a.MTU, wantMTU)
		case a.RawFlags&0x80 == 0: // IFF_NOARP
			t.Fatal("arp is on")
		case a.Flags&net.FlagUp == 0:
			t.Fatal("device is down")
		}
	}
	check(DefaultPort, 1450)
	if vx.Index != idx {
		t.Fatalf("Setup returned ifindex %d, device has %d", idx, vx.Index)
	}

	// Idempotent, and it repairs what drifted.
	sh(t, "ip", "-n", ns, "link", "set", DefaultDevice, "down", "mtu", "1400", "arp", "on")
	var again int
	if err := do(func() (err error) { again, err = Setup(cfg); return err }); err != nil {
		t.Fatalf("second Setup: %v", err)
	}
	if again != idx {
		t.Fatalf("second Setup made a new device: ifindex %d, was %d", again, idx)
	}
	check(DefaultPort, 1450)

	// Another port needs another device.
	cfg.Port = 4789
	if err := do(func() (err error) { again, err = Setup(cfg); return err }); err != nil {
		t.Fatalf("Setup with port 4789: %v", err)
	}
	check(4789, 1450)

	if err := do(func() error { return Teardown(cfg) }); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if err := do(func() error { return Teardown(cfg) }); err != nil {
		t.Fatalf("second Teardown: %v", err)
	}
	if out := sh(t, "ip", "-n", ns, "link", "show"); strings.Contains(out, DefaultDevice) {
		t.Fatalf("device still there after Teardown:\n%s", out)
	}

	// A foreign device with our name is reported, not deleted.
	sh(t, "ip", "-n", ns, "link", "add", DefaultDevice, "type", "veth", "peer", "name", "other0")
	err := do(func() error { _, err := Setup(cfg); return err })
	if err == nil || !strings.Contains(err.Error(), "veth device of that name exists") {
		t.Fatalf("Setup over a veth: error = %v", err)
	}
}

func TestSetupRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"port too big", Config{Port: 70000}, "out of range"},
		{"negative port", Config{Port: -1}, "out of range"},
		{"negative mtu", Config{MTU: -1}, "negative mtu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Setup(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSetRemoteCIDRs(t *testing.T) {
	ns, do := inNetNS(t)
	cfg := testConfig(t)
	cfg.RouterIP = netip.MustParseAddr("10.202.1.1")
	sh(t, "ip", "-n", ns, "addr", "add", "10.202.1.1/32", "dev", "lo")
	// An underlay where the other nodes' addresses are on-link.
	sh(t, "ip", "-n", ns, "link", "add", "und0", "type", "veth", "peer", "name", "und1")
	sh(t, "ip", "-n", ns, "addr", "add", "172.31.201.1/24", "dev", "und0")
	sh(t, "ip", "-n", ns, "link", "set", "und0", "up")
	sh(t, "ip", "-n", ns, "link", "set", "und1", "up")
	// A route somebody else made, inside the cluster pool.
	sh(t, "ip", "-n", ns, "route", "add", "10.202.9.0/24", "via", "172.31.201.9")
	if err := do(func() error { _, err := Setup(cfg); return err }); err != nil {
		t.Fatalf("Setup: %v", err)
	}

	n2 := Remote{CIDR: netip.MustParsePrefix("10.202.2.0/24"), NodeIP: netip.MustParseAddr("172.31.201.2")}
	n3 := Remote{CIDR: netip.MustParsePrefix("10.202.3.0/24"), NodeIP: netip.MustParseAddr("172.31.201.3")}
	routes := func() string {
		var lines []string
		for _, l := range strings.Split(sh(t, "ip", "-n", ns, "-4", "route", "show", "proto", fmt.Sprint(RouteProtocol)), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "\n")
	}
	steps := []struct {
		name    string
		mode    Mode
		remotes []Remote
		want    []string
	}{
		{"tunnel", ModeTunnel, []Remote{n2, n3}, []string{
			"10.202.2.0/24 dev nori_vxlan scope link src 10.202.1.1",
			"10.202.3.0/24 dev nori_vxlan scope link src 10.202.1.1",
		}},
		{"again", ModeTunnel, []Remote{n2, n3}, []string{
			"10.202.2.0/24 dev nori_vxlan scope link src 10.202.1.1",
			"10.202.3.0/24 dev nori_vxlan scope link src 10.202.1.1",
		}},
		{"node gone", ModeTunnel, []Remote{n3}, []string{
			"10.202.3.0/24 dev nori_vxlan scope link src 10.202.1.1",
		}},
		{"native", ModeNative, []Remote{n2, n3}, []string{
			"10.202.2.0/24 via 172.31.201.2 dev und0 src 10.202.1.1",
			"10.202.3.0/24 via 172.31.201.3 dev und0 src 10.202.1.1",
		}},
		{"none", ModeNative, nil, nil},
	}
	for _, s := range steps {
		if err := do(func() error { return SetRemoteCIDRs(cfg, s.mode, s.remotes) }); err != nil {
			t.Fatalf("%s: SetRemoteCIDRs: %v", s.name, err)
		}
		got := routes()
		// `ip route show proto N` omits the proto column.
		if want := strings.Join(s.want, "\n"); got != want {
			t.Fatalf("%s: routes =\n%s\nwant\n%s", s.name, got, want)
		}
		if other := sh(t, "ip", "-n", ns, "route", "show", "10.202.9.0/24"); !strings.Contains(other, "via 172.31.201.9") {
			t.Fatalf("%s: foreign route changed: %q", s.name, other)
		}
	}

	// Teardown takes our routes with it.
	if err := do(func() error { return SetRemoteCIDRs(cfg, ModeTunnel, []Remote{n2}) }); err != nil {
		t.Fatal(err)
	}
	if err := do(func() error { return Teardown(cfg) }); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if got := routes(); got != "" {
		t.Fatalf("routes after Teardown: %q", got)
	}
}
