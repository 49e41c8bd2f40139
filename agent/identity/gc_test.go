// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package identity

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/kvstore/kvstoretest"
)

// TestGCRemovesUnusedIdentities: with two nodes on one etcd, an identity
// is collected only after two passes without a usage key anywhere, one in
// use on either node stays, the numbers of removed ones are taken again
// by new label sets, and the other node's cache follows.
func TestGCRemovesUnusedIdentities(t *testing.T) {
	ctx := ctxT(t)
	a, b := twoNodes(t)
	gone, _ := a.Allocate(ctx, []string{"container:name=gone"})
	keptA, _ := a.Allocate(ctx, []string{"container:name=kept-a"})
	keptB, err := b.Allocate(ctx, []string{"container:name=kept-b"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx, gone); err != nil {
		t.Fatal(err)
	}
	waitCached(t, b, gone, true)

	first, deleted, err := a.gcPass(ctx, nil)
	if err != nil || deleted != 0 {
		t.Fatalf("first pass: deleted %d, %v; want 0 (unused once is not enough)", deleted, err)
	}
	if _, ok := first[gone]; !ok || len(first) != 1 {
		t.Fatalf("first pass marked %v, want only %d", first, gone)
	}
	// b's collector may run too: one of them wins, the other finds
	// nothing to do.
	if _, _, err := b.gcPass(ctx, nil); err != nil {
		t.Fatal(err)
	}
	_, deleted, err = a.gcPass(ctx, first)
	if err != nil || deleted != 1 {
		t.Fatalf("second pass: deleted %d, %v; want 1", deleted, err)
	}
	for _, k := range []string{"identities/id/" + itoa(gone), "identities/labels/" + hashKey("container:name=gone;")} {
		if _, found, _ := a.store.Get(ctx, k); found {
			t.Errorf("%s left after the collection", k)
		}
	}
	waitCached(t, b, gone, false)
	for _, id := range []uint32{keptA, keptB} {
		if _, ok := a.Lookup(id); !ok {
			t.Errorf("identity %d in use was collected", id)
		}
	}
	// The number is free again.
	if id, err := b.Allocate(ctx, []string{"container:name=new"}); err != nil || id != gone {
		t.Fatalf("new labels got %d %v, want the collected number %d", id, err, gone)
	}
}

// TestGCRestoresIdentityInUse: an identity a node uses without its usage
// key in etcd (etcd was away when its endpoint came) and that another
// node collects is put back by the node using it, with the same number.
func TestGCRestoresIdentityInUse(t *testing.T) {
	ctx := ctxT(t)
	a, b := twoNodes(t)
	id, err := a.Allocate(ctx, []string{"container:name=app1"})
	if err != nil {
		t.Fatal(err)
	}
	// What a node that took a cached identity while etcd was away looks
	// like to the others: no usage key.
	if err := a.store.Delete(ctx, usageKey(id, "n1")); err != nil {
		t.Fatal(err)
	}
	waitCached(t, b, id, true)
	marked, _, err := b.gcPass(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, deleted, err := b.gcPass(ctx, marked); err != nil || deleted != 1 {
		t.Fatalf("b's collector deleted %d, %v; want the identity without usage keys", deleted, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		kv, found, err := a.store.Get(ctx, "identities/id/"+itoa(id))
		if err == nil && found && string(kv.Value) == "container:name=app1;" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("identity %d not restored by the node using it: %+v %v %v", id, kv, found, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitCached(t, b, id, true)
	if got, ok := b.LookupLabels([]string{"container:name=app1"}); !ok || got != id {
		t.Fatalf("other node: labels → %d %v, want %d", got, ok, id)
	}
}

// twoNodes starts an etcd and the allocators of nodes n1 and n2 on it.
func twoNodes(t *testing.T) (*Allocator, *Allocator) {
	e := kvstoretest.StartEtcd(t, "")
	a := newAllocator(t, kvstoretest.Connect(t, e.Endpoints(), "c", 0), "n1")
	b := newAllocator(t, kvstoretest.Connect(t, e.Endpoints(), "c", 0), "n2")
	return a, b
}

func waitCached(t *testing.T, a *Allocator, id uint32, want bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, ok := a.Lookup(id); ok == want {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("identity %d in %s's cache: want %v", id, a.node, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func itoa(id uint32) string { return strconv.FormatUint(uint64(id), 10) }
