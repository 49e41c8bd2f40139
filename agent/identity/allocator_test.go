// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package identity

import (
	"context"
	"errors"
	"fmt"
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

func newAllocator(t *testing.T, s *kvstore.Store, node string) *Allocator {
	t.Helper()
	a, err := New(ctxT(t), s, Config{NodeName: node, Logger: kvstoretest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAllocateAndLookup(t *testing.T) {
	s := kvstoretest.New(t)
	ctx := ctxT(t)
	a := newAllocator(t, s, "n1")
	id1, err := a.Allocate(ctx, []string{"container:name=app1", "container:env=prod"})
	if err != nil || id1 != 256 {
		t.Fatalf("first identity: %d %v", id1, err)
	}
	again, err := a.Allocate(ctx, []string{"container:env=prod", "container:name=app1"})
	if err != nil || again != id1 {
		t.Fatalf("same labels in another order: %d %v", again, err)
	}
	id2, err := a.Allocate(ctx, []string{"container:name=app2"})
	if err != nil || id2 != 257 {
		t.Fatalf("second identity: %d %v", id2, err)
	}
	if got, ok := a.Lookup(id1); !ok || got.Labels.Key() != "container:env=prod;container:name=app1;" {
		t.Fatalf("Lookup(%d) = %+v %v", id1, got, ok)
	}
	if got, ok := a.Lookup(Host); !ok || !got.Reserved {
		t.Fatalf("Lookup(host) = %+v", got)
	}
	if id, ok := a.LookupLabels([]string{"container:name=app2"}); !ok || id != id2 {
		t.Fatalf("LookupLabels = %d %v", id, ok)
	}
	if id, err := a.Allocate(ctx, []string{"reserved:init"}); err != nil || id != Init {
		t.Fatalf("reserved:init = %d %v", id, err)
	}
	if _, err := a.Allocate(ctx, []string{"reserved:host", "container:a=b"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("mixed reserved: %v", err)
	}
	// Unlabelled containers share the identity of the empty set.
	empty, err := a.Allocate(ctx, nil)
	if err != nil || empty < 256 {
		t.Fatalf("empty set: %d %v", empty, err)
	}
	if again, err := a.Allocate(ctx, []string{}); err != nil || again != empty {
		t.Fatalf("empty set again: %d %v, want %d", again, err, empty)
	}
	list := a.List()
	if len(list) != 9 || list[0].ID != Host || list[6].ID != 256 || list[7].ID != 257 || list[8].ID != empty {
		t.Fatalf("List: %+v", list)
	}
	kv, found, err := s.Get(ctx, "identities/id/256")
	if err != nil || !found || string(kv.Value) != "container:env=prod;container:name=app1;" || kv.Lease != 0 {
		t.Fatalf("id key: %+v %v %v", kv, found, err)
	}
}

// Usage keys follow the local reference count and carry the session lease.
func TestUsageKeys(t *testing.T) {
	s := kvstoretest.New(t)
	ctx := ctxT(t)
	a := newAllocator(t, s, "n1")
	labels := []string{"container:name=app1"}
	id, _ := a.Allocate(ctx, labels)
	a.Allocate(ctx, labels)
	usage := fmt.Sprintf("identities/usage/%d/n1", id)
	kv, found, err := s.Get(ctx, usage)
	if err != nil || !found || kv.Lease != int64(s.LeaseID()) {
		t.Fatalf("usage key: %+v %v %v", kv, found, err)
	}
	if err := a.Release(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.Get(ctx, usage); !found {
		t.Fatal("usage key gone while one user is left")
	}
	a.Release(ctx, id)
	if _, found, _ := s.Get(ctx, usage); found {
		t.Fatal("usage key left after the last release")
	}
	if err := a.Release(ctx, id); err != nil {
		t.Fatalf("extra release: %v", err)
	}
	// The identity itself stays for other nodes (GC is separate).
	if _, ok := a.Lookup(id); !ok {
		t.Fatal("identity vanished on release")
	}
}

// Agents on several hosts allocating the same label sets at the same time
// end with one number per set, and different sets get different numbers.
func TestConcurrentAllocatorsConverge(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	ctx := ctxT(t)
	const hosts, sets, rounds = 3, 10, 4
	allocs := make([]*Allocator, hosts)
	for h := range hosts {
		allocs[h] = newAllocator(t, kvstoretest.Connect(t, e.Endpoints(), "c", 0), fmt.Sprint("n", h))
	}
	type res struct {
		set int
		id  uint32
		err error
	}
	results := make(chan res, hosts*sets*rounds)
	var wg sync.WaitGroup
	for h := range hosts {
		for r := range rounds {
			wg.Go(func() {
				for i := range sets {
					set := (i + r + h) % sets
					id, err := allocs[h].Allocate(ctx, []string{fmt.Sprintf("container:name=app%d", set)})
					results <- res{set, id, err}
				}
			})
		}
	}
	wg.Wait()
	close(results)
	bySet := map[int]uint32{}
	byID := map[uint32]int{}
	for r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		if prev, ok := bySet[r.set]; ok && prev != r.id {
			t.Fatalf("set %d got %d and %d", r.set, prev, r.id)
		}
		if prev, ok := byID[r.id]; ok && prev != r.set {
			t.Fatalf("id %d given to sets %d and %d", r.id, prev, r.set)
		}
		bySet[r.set], byID[r.id] = r.id, r.set
	}
	if len(bySet) != sets {
		t.Fatalf("%d sets allocated", len(bySet))
	}
	// Every host's cache learns every identity through its watch.
	for h, a := range allocs {
		deadline := time.Now().Add(10 * time.Second)
		for len(a.List()) != sets+len(reservedNames) {
			if time.Now().After(deadline) {
				t.Fatalf("host %d knows %d identities", h, len(a.List()))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// A new agent sees identities allocated before it started, and allocates
// after them.
func TestCacheSyncsExistingIdentities(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	ctx := ctxT(t)
	a := newAllocator(t, kvstoretest.Connect(t, e.Endpoints(), "c", 0), "n1")
	id, _ := a.Allocate(ctx, []string{"container:name=app1"})
	b := newAllocator(t, kvstoretest.Connect(t, e.Endpoints(), "c", 0), "n2")
	if err := b.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if got, ok := b.Lookup(id); !ok || got.Labels.Strings()[0] != "container:name=app1" {
		t.Fatalf("b.Lookup(%d) = %+v %v", id, got, ok)
	}
	id2, err := b.Allocate(ctx, []string{"container:name=other"})
	if err != nil || id2 != id+1 {
		t.Fatalf("b allocated %d %v", id2, err)
	}
	other := newAllocator(t, kvstoretest.Connect(t, e.Endpoints(), "other-cluster", 0), "n1")
	if id3, err := other.Allocate(ctx, []string{"container:name=app1"}); err != nil || id3 != 256 {
		t.Fatalf("other cluster: %d %v", id3, err)
	}
}

// With etcd away, labels whose identity is cached still get it at once;
// the usage key is written when etcd returns.
func TestCachedIdentityWhileEtcdIsDown(t *testing.T) {
	dir := t.TempDir()
	e := kvstoretest.StartEtcd(t, dir)
	s := kvstoretest.Connect(t, e.Endpoints(), "c", 3*time.Second)
	ctx := ctxT(t)
	a := newAllocator(t, s, "n1")
	labels := []string{"container:name=app1"}
	id, err := a.Allocate(ctx, labels)
	if err != nil {
		t.Fatal(err)
	}
	a.Release(ctx, id)
	e.Close()
	start := time.Now()
	got, err := a.Allocate(ctx, labels)
	if err != nil || got != id {
		t.Fatalf("with etcd down: %d %v", got, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("allocation with etcd down took %s", d)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := a.Allocate(short, []string{"container:name=new"}); err == nil {
		t.Fatal("new labels allocated without etcd")
	}
	kvstoretest.StartEtcd(t, dir)
	usage := fmt.Sprintf("identities/usage/%d/n1", id)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, found, err := s.Get(ctx, usage); err == nil && found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("usage key not written after etcd returned")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
