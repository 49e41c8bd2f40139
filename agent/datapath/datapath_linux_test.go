// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestOpenRefusesNonBPFFS(t *testing.T) {
	requireTools(t)
	dir := t.TempDir()
	_, err := Open(Config{BPFRoot: dir})
	want := "--bpf-root " + dir + " is not a bpffs mount (mount -t bpf bpf " + dir + ")"
	if err == nil || err.Error() != want {
		t.Fatalf("Open(%s) error = %v, want %q", dir, err, want)
	}
	if _, err := Open(Config{BPFRoot: filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("Open on a missing directory succeeded")
	}
}

// progIDs returns the program behind each attachment of ifname for the
// hooks hs, from the pins (TCX) or from the filters (clsact).
func progIDs(t *testing.T, w *nsWorker, mode, bpfRoot, ifname string, hs []hook) []int {
	t.Helper()
	var ids []int
	err := w.Do(func() error {
		for _, h := range hs {
			if mode == ModeTCX {
				l, err := link.LoadPinnedLink(filepath.Join(bpfRoot, "nori", "links", ifname+"_"+h.name), nil)
				if err != nil {
					return err
				}
				info, err := l.Info()
				l.Close()
				if err != nil {
					return err
				}
				ids = append(ids, int(info.Program))
				continue
			}
			nl, err := netlink.LinkByName(ifname)
			if err != nil {
				return err
			}
			f, err := ourFilter(nl, h)
			if err != nil {
				return err
			}
			if f == nil {
				return errors.New("no filter on " + ifname + " " + h.name)
			}
			ids = append(ids, f.Id)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("program ids of %s: %v", ifname, err)
	}
	return ids
}

// TestLocalForwarding drives the datapath the way the agent will, from
// inside a node netns with ip_forward=0, so only BPF can move packets
// between the two containers.
func TestLocalForwarding(t *testing.T) {
	requireTools(t, "ip", "ping", "nsenter")
	for _, mode := range []string{ModeTCX, ModeClsact} {
		t.Run(mode, func(t *testing.T) { testLocalForwarding(t, mode) })
	}
}

func testLocalForwarding(t *testing.T, mode string) {
	bpfRoot := mountBPFFS(t)
	node := newNetNS(t, "node")
	sh(t, "nsenter", "--net=/run/netns/"+node, "sysctl", "-qw", "net.ipv4.ip_forward=0")
	a := addContainer(t, node, "ctra", "10.200.1.2", "lxca")
	b := addContainer(t, node, "ctrb", "10.200.1.3", "lxcb")
	w := newNSWorker(t, node)

	// Without the datapath the node must not forward.
	mustNotPing(t, a, b.ip)

	var dp *Datapath
	open := func() {
		t.Helper()
		if err := w.Do(func() (err error) {
			dp, err = Open(Config{BPFRoot: bpfRoot, AttachMode: mode, Logger: testLogger(t)})
			return err
		}); err != nil {
			t.Fatalf("Open: %v", err)
		}
		if got := dp.AttachMode(); got != mode {
			t.Fatalf("AttachMode = %q, want %q", got, mode)
		}
	}
	open()
	closed := false
	t.Cleanup(func() {
		if !closed {
			dp.Close()
		}
	})
	cfg := NodeConfig{
		RouterIP:    netip.MustParseAddr(routerIP),
		ClusterCIDR: netip.MustParsePrefix("10.200.0.0/16"),
		NodeIP:      netip.MustParseAddr("172.30.0.1"),
	}
	if err := w.Do(func() error {
		if err := dp.SetConfig(cfg); err != nil {
			return err
		}
		for i, c := range []container{a, b} {
			if err := dp.AttachEndpoint(c.ifindex, c.lxcName); err != nil {
				return err
			}
			// Attaching twice must be harmless.
			if err := dp.AttachEndpoint(c.ifindex, c.lxcName); err != nil {
				return err
			}
			if err := dp.UpsertEndpoint(c.endpoint(uint16(i+1), uint32(1000+i))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("set up datapath: %v", err)
	}
	if got, err := dp.Config(); err != nil || got != cfg {
		t.Fatalf("Config() = %+v, %v; want %+v", got, err, cfg)
	}

	mustPing(t, a, b.ip)
	mustPing(t, b, a.ip)
	tcpExchange(t, a, b)
	tcpExchange(t, b, a)

	m, err := dp.Metrics()
	if err != nil {
		t.Fatalf("Metrics: %v", err)
	}
	if v := m[MetricKey{ReasonRedirectLocal, DirEgress}]; v.Packets < 4 || v.Bytes == 0 {
		t.Fatalf("redirect-local egress counter = %+v, want >= 4 packets (all: %v)", v, m)
	}

	// The map entry is what forwards: without B's entry A cannot reach B.
	if err := dp.DeleteEndpoint(b.ip); err != nil {
		t.Fatalf("DeleteEndpoint: %v", err)
	}
	if err := dp.DeleteEndpoint(b.ip); err != nil {
		t.Fatalf("DeleteEndpoint of a missing entry: %v", err)
	}
	mustNotPing(t, a, b.ip)
	if err := dp.UpsertEndpoint(b.endpoint(2, 1001)); err != nil {
		t.Fatalf("UpsertEndpoint: %v", err)
	}
	mustPing(t, a, b.ip)

	// With every fd closed, the pinned links (or the filters) still forward.
	before := progIDs(t, w, mode, bpfRoot, a.lxcName, endpointHooks)
	if err := dp.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	closed = true
	mustPing(t, a, b.ip)
	tcpExchange(t, a, b)

	// A second Open reuses the maps and swaps the programs.
	open()
	closed = false
	eps, err := dp.ListEndpoints()
	if err != nil {
		t.Fatalf("ListEndpoints: %v", err)
	}
	slices.SortFunc(eps, func(x, y Endpoint) int { return x.IP.Compare(y.IP) })
	want := []Endpoint{a.endpoint(1, 1000), b.endpoint(2, 1001)}
	if len(eps) != len(want) {
		t.Fatalf("ListEndpoints after reopen = %+v, want %+v", eps, want)
	}
	for i := range want {
		if !endpointEqual(eps[i], want[i]) {
			t.Fatalf("endpoint %d after reopen = %+v, want %+v", i, eps[i], want[i])
		}
	}
	after := progIDs(t, w, mode, bpfRoot, a.lxcName, endpointHooks)
	for i := range before {
		if before[i] == after[i] {
			t.Fatalf("program of %s %s not replaced on reopen: id %d", a.lxcName, endpointHooks[i].name, after[i])
		}
	}
	mustPing(t, a, b.ip)
	mustPing(t, b, a.ip)

	// Detaching B: A's redirect still delivers, but B's replies reach
	// the node stack, which does not forward.
	if err := w.Do(func() error { return dp.DetachEndpoint(b.lxcName) }); err != nil {
		t.Fatalf("DetachEndpoint: %v", err)
	}
	if err := w.Do(func() error { return dp.DetachEndpoint(b.lxcName) }); err != nil {
		t.Fatalf("DetachEndpoint twice: %v", err)
	}
	mustNotPing(t, a, b.ip)
	if err := w.Do(func() error { return dp.AttachEndpoint(b.ifindex, b.lxcName) }); err != nil {
		t.Fatalf("AttachEndpoint after detach: %v", err)
	}
	mustPing(t, a, b.ip)

	if mode == ModeTCX {
		// The veth is recreated under the same name (new ifindex) while its
		// old pins are still there: attaching replaces the stale pins.
		sh(t, "ip", "-n", node, "link", "del", b.lxcName)
		b2 := addContainer(t, node, "ctrb2", b.ip.String(), b.lxcName)
		if b2.ifindex == b.ifindex {
			t.Fatalf("recreated %s kept ifindex %d", b.lxcName, b.ifindex)
		}
		if err := w.Do(func() error {
			if err := dp.AttachEndpoint(b2.ifindex, b2.lxcName); err != nil {
				return err
			}
			return dp.UpsertEndpoint(b2.endpoint(2, 1001))
		}); err != nil {
			t.Fatalf("attach recreated endpoint: %v", err)
		}
		mustPing(t, a, b2.ip)
		mustPing(t, b2, a.ip)

		// A pin whose interface vanished is removed by the next Open.
		sh(t, "ip", "-n", node, "link", "del", b2.lxcName)
		dp.Close()
		open()
		for _, h := range endpointHooks {
			pin := filepath.Join(bpfRoot, "nori", "links", b.lxcName+"_"+h.name)
			if _, err := os.Stat(pin); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("stale pin %s still there (err %v)", pin, err)
			}
		}
		if _, err := os.Stat(filepath.Join(bpfRoot, "nori", "links", a.lxcName+"_ingress")); err != nil {
			t.Fatalf("live pin removed: %v", err)
		}
	}
}

func TestIPCacheMap(t *testing.T) {
	requireTools(t)
	dp, err := Open(Config{BPFRoot: mountBPFFS(t), Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer dp.Close()
	entries := []IPCacheEntry{
		{Prefix: netip.MustParsePrefix("10.1.2.0/24"), Identity: 7, TunnelEndpoint: netip.MustParseAddr("172.30.0.2"), Flags: IPCacheRemote},
		{Prefix: netip.MustParsePrefix("10.1.2.9/32"), Identity: 9},
		{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Identity: 2},
	}
	for _, e := range entries {
		if err := dp.UpsertIPCache(e); err != nil {
			t.Fatalf("UpsertIPCache(%v): %v", e.Prefix, err)
		}
	}
	got, err := dp.ListIPCache()
	if err != nil {
		t.Fatalf("ListIPCache: %v", err)
	}
	if len(got) != len(entries) {
		t.Fatalf("ListIPCache = %+v, want %d entries", got, len(entries))
	}
	for _, e := range entries {
		if !slices.Contains(got, e) {
			t.Fatalf("ListIPCache = %+v, missing %+v", got, e)
		}
	}
	if err := dp.DeleteIPCache(netip.MustParsePrefix("10.1.2.9/32")); err != nil {
		t.Fatalf("DeleteIPCache: %v", err)
	}
	if err := dp.DeleteIPCache(netip.MustParsePrefix("10.1.2.9/32")); err != nil {
		t.Fatalf("DeleteIPCache of a missing entry: %v", err)
	}
	if got, _ := dp.ListIPCache(); len(got) != 2 {
		t.Fatalf("after delete ListIPCache = %+v", got)
	}
}
