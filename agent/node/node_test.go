// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package node

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/kvstore"
	"github.com/nori-net/nori/agent/kvstore/kvstoretest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newManager(t *testing.T, s *kvstore.Store, name, pool string, mask int) *Manager {
	t.Helper()
	m, err := New(s, Config{Name: name, IPv4: netip.MustParseAddr("172.30.0.1"), Pool: netip.MustParsePrefix(pool), MaskSize: mask, StateDir: t.TempDir(), Logger: kvstoretest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCIDRKey(t *testing.T) {
	for _, c := range []string{"10.0.0.0/24", "10.255.3.128/25", "192.168.0.0/16"} {
		p := netip.MustParsePrefix(c)
		got, ok := parseCIDRKey(cidrKey(p))
		if !ok || got != p {
			t.Errorf("round trip %s via %s: %v %v", c, cidrKey(p), got, ok)
		}
	}
	if cidrKey(netip.MustParsePrefix("10.0.3.0/24")) != "cidrs/10.0.3.0-24" {
		t.Fatal(cidrKey(netip.MustParsePrefix("10.0.3.0/24")))
	}
	for _, bad := range []string{"cidrs/", "cidrs/10.0.0.0", "nodes/x", "cidrs/x-24"} {
		if _, ok := parseCIDRKey(bad); ok {
			t.Errorf("parsed %q", bad)
		}
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"bad name", Config{Name: "a/b"}, "invalid node name"},
		{"mask below pool", Config{Name: "n", Pool: netip.MustParsePrefix("10.0.0.0/16"), MaskSize: 8}, "mask size"},
		{"mask too long", Config{Name: "n", MaskSize: 31}, "mask size"},
		{"IPv6 pool", Config{Name: "n", Pool: netip.MustParsePrefix("fd00::/48")}, "IPv4"},
		{"underlay inside pool", Config{Name: "n", IPv4: netip.MustParseAddr("10.1.2.3")}, "inside the cluster pool"},
		{"defaults", Config{Name: "host-1.example", IPv4: netip.MustParseAddr("172.30.0.1")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(nil, tt.cfg)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRegisterReusesCIDRByName(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	s := kvstoretest.Connect(t, e.Endpoints(), "c", 0)
	ctx := ctxT(t)
	a := newManager(t, s, "a", "10.0.0.0/8", 24)
	na, err := a.Register(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if na.IPv4CIDR.String() != "10.0.0.0/24" || na.RouterIPv4.String() != "10.0.0.1" || na.Cluster != "c" || na.IPv4.String() != "172.30.0.1" {
		t.Fatalf("node a: %+v", na)
	}
	nb, err := newManager(t, s, "b", "10.0.0.0/8", 24).Register(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if nb.IPv4CIDR.String() != "10.0.1.0/24" {
		t.Fatalf("node b: %+v", nb)
	}
	// a restarts (new store session): same CIDR.
	s2 := kvstoretest.Connect(t, e.Endpoints(), "c", 0)
	again := newManager(t, s2, "a", "10.0.0.0/8", 24)
	na2, err := again.Register(ctx)
	if err != nil || na2 != na {
		t.Fatalf("a again: %+v %v, want %+v", na2, err, na)
	}
	cached, err := ReadCache(again.cfg.StateDir)
	if err != nil || cached != na {
		t.Fatalf("node.json: %+v %v", cached, err)
	}
	nodes, err := List(ctx, s)
	if err != nil || len(nodes) != 2 || nodes[0].Name != "a" || nodes[1].Name != "b" {
		t.Fatalf("list: %+v %v", nodes, err)
	}
	if api := nb.API(); api.IPv4CIDR != "10.0.1.0/24" || api.RouterIPv4 != "10.0.1.1" || api.IPv4 != "172.30.0.1" {
		t.Fatalf("API(): %+v", api)
	}
}

// Hosts starting at the same moment never share a CIDR; each runs its own
// store session as separate agents do.
func TestConcurrentRegistrationsGetDistinctCIDRs(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	ctx := ctxT(t)
	const n = 8
	var wg sync.WaitGroup
	nodes := make([]Node, n)
	errs := make([]error, n)
	stores := make([]*kvstore.Store, n)
	for i := range n {
		stores[i] = kvstoretest.Connect(t, e.Endpoints(), "c", 0)
	}
	for i := range n {
		wg.Go(func() {
			nodes[i], errs[i] = newManager(t, stores[i], fmt.Sprint("n", i), "10.0.0.0/8", 24).Register(ctx)
		})
	}
	wg.Wait()
	seen := map[netip.Prefix]string{}
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if other, dup := seen[nodes[i].IPv4CIDR]; dup {
			t.Fatalf("%s and %s both got %s", other, nodes[i].Name, nodes[i].IPv4CIDR)
		}
		seen[nodes[i].IPv4CIDR] = nodes[i].Name
	}
}

func TestPoolExhausted(t *testing.T) {
	s := kvstoretest.New(t)
	ctx := ctxT(t)
	for _, name := range []string{"a", "b"} {
		if _, err := newManager(t, s, name, "10.9.0.0/23", 24).Register(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, err := newManager(t, s, "c", "10.9.0.0/23", 24).Register(ctx)
	if err == nil || !strings.Contains(err.Error(), "10.9.0.0/23") {
		t.Fatalf("third node: %v", err)
	}
	// Deleting a node frees its CIDR for another host.
	if err := Delete(ctx, s, "a"); err != nil {
		t.Fatal(err)
	}
	nc, err := newManager(t, s, "c", "10.9.0.0/23", 24).Register(ctx)
	if err != nil || nc.IPv4CIDR.String() != "10.9.0.0/24" {
		t.Fatalf("after delete: %+v %v", nc, err)
	}
	if err := Delete(ctx, s, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

// Issue 3: a host that goes away disappears from the others within the
// lease TTL, keeps its CIDR, and gets it back when it returns.
func TestNodeGoesAwayAndReturns(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	ctx := ctxT(t)
	observer := kvstoretest.Connect(t, e.Endpoints(), "c", 0)
	events := Watch(ctx, observer, kvstoretest.Logger(t))
	next := func() Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(15 * time.Second):
			t.Fatal("no node event")
		}
		return Event{}
	}
	if ev := next(); ev.Type != NodesSynced {
		t.Fatalf("first event %v", ev.Type)
	}

	sa := kvstoretest.Connect(t, e.Endpoints(), "c", 3*time.Second)
	na, err := newManager(t, sa, "a", "10.0.0.0/8", 24).Register(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Type != NodeAdded || ev.Node != na {
		t.Fatalf("event %v %+v", ev.Type, ev.Node)
	}
	gone := time.Now()
	sa.Close() // the host dies: no more keep-alives
	ev := next()
	if ev.Type != NodeDeleted || ev.Node.Name != "a" || ev.Node.IPv4CIDR != na.IPv4CIDR {
		t.Fatalf("event %v %+v", ev.Type, ev.Node)
	}
	if d := time.Since(gone); d > 5*time.Second {
		t.Fatalf("node vanished after %s, lease TTL is 3s", d)
	}
	// Another host meanwhile must not take a's CIDR.
	nb, err := newManager(t, observer, "b", "10.0.0.0/8", 24).Register(ctx)
	if err != nil || nb.IPv4CIDR == na.IPv4CIDR {
		t.Fatalf("b: %+v %v", nb, err)
	}
	if ev := next(); ev.Type != NodeAdded || ev.Node.Name != "b" {
		t.Fatalf("event %v %+v", ev.Type, ev.Node)
	}
	sa2 := kvstoretest.Connect(t, e.Endpoints(), "c", 3*time.Second)
	na2, err := newManager(t, sa2, "a", "10.0.0.0/8", 24).Register(ctx)
	if err != nil || na2.IPv4CIDR != na.IPv4CIDR {
		t.Fatalf("a returned with %+v %v, want CIDR %s", na2, err, na.IPv4CIDR)
	}
	if ev := next(); ev.Type != NodeAdded || ev.Node.Name != "a" {
		t.Fatalf("event %v %+v", ev.Type, ev.Node)
	}
}
