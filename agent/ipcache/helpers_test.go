// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipcache

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/datapath"
	"github.com/nori-net/nori/agent/kvstore"
	"github.com/nori-net/nori/agent/kvstore/kvstoretest"
	"github.com/nori-net/nori/agent/node"
)

// fakeDatapath records the ipcache map in memory; the Syncer's logic is
// what these tests check, the real map is tested in agent/datapath.
type fakeDatapath struct {
	mu      sync.Mutex
	m       map[netip.Prefix]datapath.IPCacheEntry
	deletes int
	fail    bool
}

func newFakeDatapath(initial ...datapath.IPCacheEntry) *fakeDatapath {
	f := &fakeDatapath{m: map[netip.Prefix]datapath.IPCacheEntry{}}
	for _, e := range initial {
		f.m[e.Prefix] = e
	}
	return f
}

func (f *fakeDatapath) UpsertIPCache(e datapath.IPCacheEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return fmt.Errorf("map update failed")
	}
	f.m[e.Prefix] = e
	return nil
}

func (f *fakeDatapath) DeleteIPCache(p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return fmt.Errorf("map delete failed")
	}
	delete(f.m, p)
	f.deletes++
	return nil
}

func (f *fakeDatapath) ListIPCache() ([]datapath.IPCacheEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []datapath.IPCacheEntry
	for _, e := range f.m {
		out = append(out, e)
	}
	return out, nil
}

func (f *fakeDatapath) get(p string) (datapath.IPCacheEntry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.m[netip.MustParsePrefix(p)]
	return e, ok
}

func (f *fakeDatapath) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.m)
}

func (f *fakeDatapath) deleteCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deletes
}

type fakeRoutes struct {
	mu   sync.Mutex
	last []Remote
	sets int
}

func (r *fakeRoutes) SetRemoteCIDRs(remotes []Remote) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = slices.Clone(remotes)
	r.sets++
	return nil
}

func (r *fakeRoutes) get() []Remote {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.last)
}

// agent is one simulated nori-agent: its own Store (own lease), node
// registration, Publisher and Syncer.
type agent struct {
	name   string
	store  *kvstore.Store
	node   node.Node
	dp     *fakeDatapath
	routes *fakeRoutes
	pub    *Publisher
	syncer *Syncer
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func startAgent(t *testing.T, endpoints []string, name, ip string, ttl time.Duration, dp *fakeDatapath) *agent {
	t.Helper()
	a := &agent{name: name, dp: dp, routes: &fakeRoutes{}}
	if a.dp == nil {
		a.dp = newFakeDatapath()
	}
	a.store = kvstoretest.Connect(t, endpoints, "test", ttl)
	log := kvstoretest.Logger(t).With("agent", name)
	mgr, err := node.New(a.store, node.Config{Name: name, IPv4: netip.MustParseAddr(ip), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if a.node, err = mgr.Register(ctx); err != nil {
		t.Fatal(err)
	}
	a.pub = NewPublisher(a.store, PublisherConfig{NodeName: name, HostIP: a.node.IPv4, Logger: log})
	a.syncer, err = NewSyncer(a.store, SyncerConfig{NodeName: name, NodeIP: a.node.IPv4, NodeCIDR: a.node.IPv4CIDR, Datapath: a.dp, Routes: a.routes, RetryInterval: 100 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	a.cancel = stop
	a.done.Go(func() { a.pub.Run(runCtx) })
	a.done.Go(func() { a.syncer.Run(runCtx) })
	t.Cleanup(a.stop)
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if err := a.syncer.WaitSynced(wctx); err != nil {
		t.Fatal(err)
	}
	return a
}

// stop ends the agent's loops and closes its store without revoking the
// lease, like a killed agent.
func (a *agent) stop() {
	a.cancel()
	a.done.Wait()
	a.store.Close()
}

// ep is the n-th address of the agent's node CIDR.
func (a *agent) ep(n int) netip.Addr {
	ip := a.node.IPv4CIDR.Addr()
	for range n {
		ip = ip.Next()
	}
	return ip
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
