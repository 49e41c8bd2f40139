// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package identity

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/kvstore/kvstoretest"
)

// TestWatchSeesOtherHosts: an identity allocated by the allocator of one
// host shows up in another host's watch, with its labels; one deleted
// from etcd goes away.
func TestWatchSeesOtherHosts(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	ctx := ctxT(t)
	s1 := kvstoretest.Connect(t, e.Endpoints(), "test", 0)
	s2 := kvstoretest.Connect(t, e.Endpoints(), "test", 0)
	a1, a2 := newAllocator(t, s1, "host-1"), newAllocator(t, s2, "host-2")
	before, err := a1.Allocate(ctx, []string{"container:name=before"})
	if err != nil {
		t.Fatal(err)
	}
	calls := make(chan []Identity, 16)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a1.Watch(wctx, func(all []Identity) { calls <- all })
	}()
	t.Cleanup(func() { cancel(); <-done })
	// want waits for a call whose identities satisfy ok.
	want := func(what string, ok func(map[uint32]string) bool) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case all := <-calls:
				if !slices.IsSortedFunc(all, func(x, y Identity) int { return cmp.Compare(x.ID, y.ID) }) {
					t.Fatalf("%s: not sorted: %v", what, all)
				}
				m := map[uint32]string{}
				for _, i := range all {
					m[i.ID] = i.Labels.Key()
				}
				if ok(m) {
					return
				}
			case <-deadline:
				t.Fatalf("%s: not seen", what)
			}
		}
	}
	want("initial set with reserved identities", func(m map[uint32]string) bool {
		return m[Host] == "reserved:host=;" && m[World] == "reserved:world=;" && m[before] == "container:name=before;"
	})
	id, err := a2.Allocate(ctx, []string{"container:name=app2", "container:env=prod"})
	if err != nil {
		t.Fatal(err)
	}
	want("identity allocated on host-2", func(m map[uint32]string) bool {
		return m[id] == "container:env=prod;container:name=app2;"
	})
	if err := s2.Delete(ctx, "identities/id/"+strconv.FormatUint(uint64(id), 10)); err != nil {
		t.Fatal(err)
	}
	want("deleted identity gone", func(m map[uint32]string) bool {
		_, ok := m[id]
		return !ok && m[before] != ""
	})
}
