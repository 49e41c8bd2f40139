// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipcache

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/datapath"
	"github.com/nori-net/nori/agent/health"
	"github.com/nori-net/nori/agent/kvstore/kvstoretest"
)

// Two agents each see the other's node (CIDR, underlay, health address)
// and endpoints, never their own endpoints, and follow deletes.
func TestTwoAgents(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	a := startAgent(t, e.Endpoints(), "host-a", "172.30.0.1", 0, nil)
	b := startAgent(t, e.Endpoints(), "host-b", "172.30.0.2", 0, nil)
	ctx := ctxT(t)

	epA, epB := a.ep(5), b.ep(7)
	if err := a.pub.Upsert(ctx, epA, 300); err != nil {
		t.Fatal(err)
	}
	if err := b.pub.Upsert(ctx, epB, 301); err != nil {
		t.Fatal(err)
	}
	remote := datapath.IPCacheRemote
	for _, tt := range []struct {
		self, other *agent
		ep          netip.Addr
		id          uint32
	}{{a, b, epB, 301}, {b, a, epA, 300}} {
		oip := tt.other.node.IPv4
		want := map[string]datapath.IPCacheEntry{
			tt.other.node.IPv4CIDR.String():                    {Identity: 0, TunnelEndpoint: oip, Flags: remote},
			oip.String() + "/32":                               {Identity: 6},
			health.IP(tt.other.node.IPv4CIDR).String() + "/32": {Identity: 4, TunnelEndpoint: oip, Flags: remote},
			tt.ep.String() + "/32":                             {Identity: tt.id, TunnelEndpoint: oip, Flags: remote},
			tt.self.node.IPv4.String() + "/32":                 {Identity: 1},
		}
		waitFor(t, 10*time.Second, tt.self.name+" to see "+tt.other.name, func() bool {
			for p, w := range want {
				w.Prefix = netip.MustParsePrefix(p)
				if got, ok := tt.self.dp.get(p); !ok || got != w {
					return false
				}
			}
			return tt.self.dp.len() == len(want)
		})
		if r := tt.self.routes.get(); len(r) != 1 || r[0] != (Remote{CIDR: tt.other.node.IPv4CIDR, NodeIP: oip}) {
			t.Errorf("%s routes: %v", tt.self.name, r)
		}
		if got := tt.self.syncer.Nodes(); len(got) != 2 {
			t.Errorf("%s knows nodes %v", tt.self.name, got)
		}
		if st := tt.self.syncer.Status(); !st.Synced || st.RemoteNodes != 1 || st.RemoteEndpoints != 1 || st.Entries != 5 {
			t.Errorf("%s status %+v", tt.self.name, st)
		}
		if c := tt.self.syncer.Status().Component(time.Now()); c.State != "Ok" {
			t.Errorf("%s component %+v", tt.self.name, c)
		}
	}

	// The value in etcd is what the design says.
	kv, found, err := a.store.Get(ctx, Key(epA))
	if err != nil || !found {
		t.Fatalf("get %s: %v %v", Key(epA), found, err)
	}
	var got Entry
	if err := json.Unmarshal(kv.Value, &got); err != nil {
		t.Fatal(err)
	}
	if got.IP != epA || got.Identity != 300 || got.HostIP != a.node.IPv4 || got.Node != "host-a" || got.Created == 0 || kv.Lease != int64(a.store.LeaseID()) {
		t.Fatalf("stored entry %+v lease %x", got, kv.Lease)
	}

	// An identity change and a delete propagate.
	a.pub.Upsert(ctx, epA, 302)
	waitFor(t, 10*time.Second, "identity change on host-b", func() bool {
		e, ok := b.dp.get(epA.String() + "/32")
		return ok && e.Identity == 302
	})
	a.pub.Delete(ctx, epA)
	waitFor(t, 10*time.Second, "delete on host-b", func() bool {
		_, ok := b.dp.get(epA.String() + "/32")
		return !ok
	})
	if p := b.syncer.Propagation(); len(p.Samples) < 2 || p.Max <= 0 || p.Max > 5*time.Second || p.API() == nil {
		t.Errorf("propagation on host-b: %+v", p)
	} else {
		t.Logf("propagation on host-b: %d samples, p50 %s, max %s", len(p.Samples), p.P50, p.Max)
	}
	if st := a.pub.Status(); st.Entries != 0 || st.Pending != 0 || st.Writes < 3 {
		t.Errorf("publisher status %+v", st)
	}
}

// An agent that stops without revoking its lease disappears from the
// other agents' datapath within the lease TTL, with its routes.
func TestNodeGoneWithLease(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	const ttl = 3 * time.Second
	a := startAgent(t, e.Endpoints(), "host-a", "172.30.0.1", ttl, nil)
	b := startAgent(t, e.Endpoints(), "host-b", "172.30.0.2", ttl, nil)
	a.pub.Upsert(ctxT(t), a.ep(5), 300)
	waitFor(t, 10*time.Second, "host-b to see host-a's endpoint", func() bool {
		_, ok := b.dp.get(a.ep(5).String() + "/32")
		return ok && len(b.routes.get()) == 1
	})
	stopped := time.Now()
	a.stop()
	waitFor(t, 3*ttl, "host-a's entries to vanish from host-b", func() bool {
		return b.dp.len() == 1 && len(b.routes.get()) == 0
	})
	t.Logf("host-a gone from host-b %s after it stopped (ttl %s)", time.Since(stopped).Round(100*time.Millisecond), ttl)
	if _, ok := b.dp.get(b.node.IPv4.String() + "/32"); !ok {
		t.Fatal("host-b lost its own host entry")
	}
}

// A restarted agent removes what it owned in the datapath but the cluster
// no longer has, keeps local endpoints, and does not rewrite entries that
// are still right.
func TestRestartReconcile(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	a := startAgent(t, e.Endpoints(), "host-a", "172.30.0.1", 0, nil)
	pfx := netip.MustParsePrefix
	stale := []datapath.IPCacheEntry{
		{Prefix: pfx("10.0.99.0/24"), TunnelEndpoint: netip.MustParseAddr("172.30.0.99"), Flags: datapath.IPCacheRemote},
		{Prefix: pfx("10.0.99.7/32"), Identity: 300, TunnelEndpoint: netip.MustParseAddr("172.30.0.99"), Flags: datapath.IPCacheRemote},
		{Prefix: pfx("172.30.0.99/32"), Identity: 6},
	}
	localEP := datapath.IPCacheEntry{Prefix: pfx("10.0.2.5/32"), Identity: 300}
	stillRight := datapath.IPCacheEntry{Prefix: a.node.IPv4CIDR, TunnelEndpoint: a.node.IPv4, Flags: datapath.IPCacheRemote}
	dp := newFakeDatapath(append(stale, localEP, stillRight)...)
	b := startAgent(t, e.Endpoints(), "host-b", "172.30.0.2", 0, dp)
	// WaitSynced returned: the reconcile after the initial lists is done.
	for _, s := range stale {
		if _, ok := dp.get(s.Prefix.String()); ok {
			t.Errorf("stale %s still in the datapath", s.Prefix)
		}
	}
	if _, ok := dp.get(localEP.Prefix.String()); !ok {
		t.Error("the local endpoint's entry was removed")
	}
	if got, ok := dp.get(stillRight.Prefix.String()); !ok || got != stillRight {
		t.Errorf("host-a's CIDR: %+v %v", got, ok)
	}
	if n := dp.deleteCount(); n != len(stale) {
		t.Errorf("%d deletes, want %d", n, len(stale))
	}
	if st := b.syncer.Status(); !st.Synced || st.RemoteNodes != 1 {
		t.Errorf("status after the restart: %+v", st)
	}
}

// Publisher.Sync at agent start puts the restored endpoints again (with
// the same content, so other nodes see no change) and deletes this node's
// entries that no endpoint backs any more.
func TestPublisherSync(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	ctx := ctxT(t)
	old := kvstoretest.Connect(t, e.Endpoints(), "test", 0)
	keep, gone, foreign := netip.MustParseAddr("10.0.1.5"), netip.MustParseAddr("10.0.1.6"), netip.MustParseAddr("10.0.2.5")
	put := func(ip netip.Addr, node string, created int64) {
		data, _ := json.Marshal(Entry{IP: ip, Identity: 300, HostIP: netip.MustParseAddr("172.30.0.1"), Node: node, Created: created})
		if err := old.PutWithLease(ctx, Key(ip), data); err != nil {
			t.Fatal(err)
		}
	}
	put(keep, "host-a", 42)
	put(gone, "host-a", 43)
	put(foreign, "host-b", 44)
	old.Close() // the previous run, killed: its lease is still alive for the TTL

	s := kvstoretest.Connect(t, e.Endpoints(), "test", 0)
	p := NewPublisher(s, PublisherConfig{NodeName: "host-a", HostIP: netip.MustParseAddr("172.30.0.1"), Logger: kvstoretest.Logger(t)})
	if err := p.Sync(ctx, map[netip.Addr]uint32{keep: 300}); err != nil {
		t.Fatal(err)
	}
	go p.Run(ctx)
	waitFor(t, 10*time.Second, "publisher to settle", func() bool { return p.Status().Pending == 0 })
	kv, found, err := s.Get(ctx, Key(keep))
	if err != nil || !found || kv.Lease != int64(s.LeaseID()) {
		t.Fatalf("kept entry: found %v lease %x (want %x) err %v", found, kv.Lease, s.LeaseID(), err)
	}
	var got Entry
	json.Unmarshal(kv.Value, &got)
	if got.Created != 42 {
		t.Errorf("kept entry was rewritten with created %d, want 42", got.Created)
	}
	if _, found, _ := s.Get(ctx, Key(gone)); found {
		t.Error("stale entry of this node still in etcd")
	}
	if _, found, _ := s.Get(ctx, Key(foreign)); !found {
		t.Error("another node's entry was deleted")
	}
}

// etcd stopped and started again: the syncer keeps the datapath as it is
// meanwhile (no flush), the publisher never blocks its callers, and both
// carry on once etcd is back, with no restart.
func TestEtcdOutage(t *testing.T) {
	dir := t.TempDir()
	e := kvstoretest.StartEtcd(t, dir)
	const ttl = 3 * time.Second
	a := startAgent(t, e.Endpoints(), "host-a", "172.30.0.1", ttl, nil)
	b := startAgent(t, e.Endpoints(), "host-b", "172.30.0.2", ttl, nil)
	ctx := ctxT(t)
	a.pub.Upsert(ctx, a.ep(5), 300)
	waitFor(t, 10*time.Second, "host-b to see host-a's endpoint", func() bool {
		_, ok := b.dp.get(a.ep(5).String() + "/32")
		return ok
	})
	before, deletes := b.dp.len(), b.dp.deleteCount()

	e.Close()
	waitFor(t, 10*time.Second, "the stores to notice", func() bool { return !b.store.Status().Connected })
	start := time.Now()
	for i := range 20 {
		a.pub.Upsert(ctx, a.ep(10+i), 300)
	}
	a.pub.Delete(ctx, a.ep(5))
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("21 publisher calls took %s with etcd down", d)
	}
	time.Sleep(2 * ttl) // longer than the lease TTL
	if b.dp.len() != before || b.dp.deleteCount() != deletes {
		t.Fatalf("host-b's datapath changed during the outage: %d entries (was %d), %d deletes (was %d)", b.dp.len(), before, b.dp.deleteCount(), deletes)
	}
	if st := b.syncer.Status(); !st.Synced {
		t.Errorf("syncer status during the outage: %+v", st)
	}

	kvstoretest.StartEtcd(t, dir)
	waitFor(t, 30*time.Second, "host-b to catch up after the outage", func() bool {
		_, old := b.dp.get(a.ep(5).String() + "/32")
		_, last := b.dp.get(a.ep(29).String() + "/32")
		return !old && last && b.dp.len() == before+19
	})
	// The Store may have restored a remembered key before the
	// Publisher's own retry came round; that retry still has to finish.
	waitFor(t, 10*time.Second, "the publisher to finish", func() bool { return a.pub.Status().Pending == 0 })
	if st := a.pub.Status(); st.Entries != 20 {
		t.Errorf("publisher after the outage: %+v", st)
	}
	if st := b.syncer.Status(); !st.Synced || st.RemoteEndpoints != 20 {
		t.Errorf("syncer after the outage: %+v", st)
	}
}

// A failing datapath write is retried until it succeeds.
func TestDatapathRetry(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	a := startAgent(t, e.Endpoints(), "host-a", "172.30.0.1", 0, nil)
	b := startAgent(t, e.Endpoints(), "host-b", "172.30.0.2", 0, nil)
	b.dp.mu.Lock()
	b.dp.fail = true
	b.dp.mu.Unlock()
	a.pub.Upsert(ctxT(t), a.ep(5), 300)
	waitFor(t, 10*time.Second, "the failure to show", func() bool { return b.syncer.Status().Failing })
	if c := b.syncer.Status().Component(time.Now()); c.State != "Warning" {
		t.Errorf("component while failing: %+v", c)
	}
	b.dp.mu.Lock()
	b.dp.fail = false
	b.dp.mu.Unlock()
	waitFor(t, 10*time.Second, "the retry", func() bool {
		_, ok := b.dp.get(a.ep(5).String() + "/32")
		return ok && !b.syncer.Status().Failing
	})
}
