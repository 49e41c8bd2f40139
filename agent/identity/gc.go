// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package identity

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Identity garbage collection, without an operator: every agent runs it,
// and etcd transactions make concurrent collectors safe.
//
// An identity no node uses (no identities/usage/<N>/ key) in two passes in
// a row, an interval apart, is deleted together with its labels key. The
// deletion is one transaction that fails if a usage key appeared or the
// identity was reallocated in between. A node that still holds the
// identity without its usage key written yet (etcd was away when its
// endpoint came) puts the identity back when it sees the deletion
// (follow), with the same number.

// DefaultGCInterval is how often each agent looks for unused identities.
const DefaultGCInterval = 5 * time.Minute

// RunGC collects unused identities every interval (with jitter, so the
// agents of a cluster spread out) until ctx ends.
func (a *Allocator) RunGC(ctx context.Context, interval time.Duration) {
	unused := map[uint32]int64{}
	for {
		d := interval/2 + rand.N(interval)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		next, deleted, err := a.gcPass(ctx, unused)
		if err != nil {
			a.logger.Warn("identity garbage collection", "err", err)
			continue
		}
		unused = next
		if deleted > 0 {
			a.logger.Info("unused identities removed", "count", deleted)
		}
	}
}

// gcPass deletes the identities that were unused in the previous pass
// (prev: number → mod revision of its id key then) and still are, and
// returns the ones unused now for the next pass.
func (a *Allocator) gcPass(ctx context.Context, prev map[uint32]int64) (map[uint32]int64, int, error) {
	ids, _, err := a.store.List(ctx, idPrefix)
	if err != nil {
		return prev, 0, err
	}
	usage, _, err := a.store.List(ctx, usagePrefix)
	if err != nil {
		return prev, 0, err
	}
	used := map[uint32]bool{}
	for _, kv := range usage {
		n, _, _ := strings.Cut(strings.TrimPrefix(kv.Key, usagePrefix), "/")
		if id, err := strconv.ParseUint(n, 10, 32); err == nil {
			used[uint32(id)] = true
		}
	}
	next := map[uint32]int64{}
	deleted := 0
	for _, kv := range ids {
		id, err := parseID(kv.Key)
		if err != nil || used[id] {
			continue
		}
		if a.usedLocally(id) {
			continue // its usage key is on its way
		}
		rev, seen := prev[id]
		if !seen || rev != kv.ModRevision {
			next[id] = kv.ModRevision
			continue
		}
		ok, err := a.deleteUnused(ctx, id, string(kv.Value), kv.ModRevision)
		if err != nil {
			return next, deleted, err
		}
		if ok {
			deleted++
			a.logger.Info("removed unused identity", "id", id, "labels", string(kv.Value))
		}
	}
	return next, deleted, nil
}

func (a *Allocator) usedLocally(id uint32) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.refs[id] > 0
}

// deleteUnused removes identity id (labels key labels, id key at mod
// revision rev) if it is still that allocation and no node uses it.
func (a *Allocator) deleteUnused(ctx context.Context, id uint32, labels string, rev int64) (bool, error) {
	n := strconv.FormatUint(uint64(id), 10)
	ikey := a.store.Key(idPrefix + n)
	lkey := a.store.Key(labelsPrefix + hashKey(labels))
	resp, err := a.store.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(ikey), "=", rev),
			clientv3.Compare(clientv3.Value(lkey), "=", n),
			// No key under the prefix: an empty range compares as a
			// key with create revision 0.
			clientv3.Compare(clientv3.CreateRevision(a.store.Key(usagePrefix+n+"/")), "=", 0).WithPrefix()).
		Then(clientv3.OpDelete(ikey), clientv3.OpDelete(lkey)).
		Commit()
	if err != nil {
		return false, fmt.Errorf("delete unused identity %d: %w", id, err)
	}
	return resp.Succeeded, nil
}

// restore puts back identity id with labels after another node's
// collector removed it while this node still uses it.
func (a *Allocator) restore(ctx context.Context, id uint32, labels string) {
	n := strconv.FormatUint(uint64(id), 10)
	ikey := a.store.Key(idPrefix + n)
	lkey := a.store.Key(labelsPrefix + hashKey(labels))
	resp, err := a.store.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(ikey), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(lkey), "=", 0)).
		Then(clientv3.OpPut(ikey, labels), clientv3.OpPut(lkey, n)).
		Commit()
	switch {
	case err != nil:
		a.logger.Error("restore identity in use", "id", id, "labels", labels, "err", err)
	case !resp.Succeeded:
		a.logger.Error("identity in use was removed and taken again; endpoints with it need a restart", "id", id, "labels", labels)
	default:
		a.logger.Warn("identity in use was removed as unused: restored", "id", id, "labels", labels)
	}
}
