// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package identity

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"slices"

	"github.com/nori-net/nori/agent/kvstore"
)

// Watch calls fn with every identity of the cluster (the reserved ones
// included, ordered by number) once etcd was listed, and again after every
// change, until ctx ends; it blocks, so run it in a goroutine. Changes
// that arrive together are coalesced into one call. The agent evaluates
// policy selectors against this set, and identities allocated by any host
// show up here. While etcd is unreachable fn is not called and the last
// set stays valid; after the outage etcd is listed again and identities
// removed meanwhile go away (kvstore.ListAndWatch).
func Watch(ctx context.Context, store *kvstore.Store, logger *slog.Logger, fn func(all []Identity)) {
	if logger == nil {
		logger = slog.Default()
	}
	events := store.ListAndWatch(ctx, idPrefix)
	byID := map[uint32]Identity{}
	synced := false
	// apply reports whether ev changed the set.
	apply := func(ev kvstore.Event) bool {
		switch ev.Type {
		case kvstore.EventSynced:
			synced = true
			return true
		case kvstore.EventUpsert:
			id, err := parseID(ev.Key)
			if err != nil {
				return false
			}
			ls, err := ParseKey(string(ev.Value))
			if err != nil {
				logger.Warn("ignoring malformed identity", "key", ev.Key, "err", err)
				return false
			}
			if old, ok := byID[id]; ok && old.Labels.Key() == ls.Key() {
				return false
			}
			byID[id] = Identity{ID: id, Labels: ls}
			return true
		case kvstore.EventDelete:
			id, err := parseID(ev.Key)
			if err != nil {
				return false
			}
			_, ok := byID[id]
			delete(byID, id)
			return ok
		}
		return false
	}
	for ev := range events {
		changed := apply(ev)
	drain:
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					return
				}
				changed = apply(ev) || changed
			default:
				break drain
			}
		}
		if !synced || !changed {
			continue
		}
		all := append(ReservedIdentities(), slices.Collect(maps.Values(byID))...)
		slices.SortFunc(all, func(x, y Identity) int { return cmp.Compare(x.ID, y.ID) })
		fn(all)
	}
}

// Watch is Watch on the Allocator's store. It keeps its own copy of the
// cluster's identities, so fn never waits for the allocator's locks.
func (a *Allocator) Watch(ctx context.Context, fn func(all []Identity)) {
	Watch(ctx, a.store, a.logger, fn)
}
