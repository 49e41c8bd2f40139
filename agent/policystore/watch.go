// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policystore

import (
	"context"
	"time"

	"github.com/nori-net/nori/agent/kvstore"
	"github.com/nori-net/nori/agent/policy"
)

// Watch calls fn with the current rules and revision once the head was
// listed (no rules and revision 0 when none exist), then after every
// committed change, until ctx ends; it blocks, so run it in a goroutine.
// fn runs on Watch's goroutine, one call at a time; changes that arrive
// while fn runs or while a set loads are coalesced into one call with the
// newest set. When etcd is unreachable the last set stays in force: the
// watch lists again when etcd is back (kvstore.ListAndWatch) and a load
// that fails is retried with backoff.
func (s *Store) Watch(ctx context.Context, fn func(rules []policy.Rule, rev uint64)) {
	events := s.kv.ListAndWatch(ctx, headKey)
	const minBackoff = 200 * time.Millisecond
	var (
		synced, dirty, delivered bool
		lastSet                  string
		retry                    <-chan time.Time
		backoff                  = minBackoff
	)
	handle := func(ev kvstore.Event) {
		if ev.Key != headKey && ev.Type != kvstore.EventSynced {
			return // a key that merely shares the prefix
		}
		if ev.Type == kvstore.EventSynced {
			synced = true
		}
		dirty = true
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			handle(ev)
		drain:
			for {
				select {
				case ev, ok := <-events:
					if !ok {
						return
					}
					handle(ev)
				default:
					break drain
				}
			}
		case <-retry:
			retry = nil
		case <-ctx.Done():
			return
		}
		if !synced || !dirty || retry != nil {
			continue
		}
		snap, err := s.load(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.logger.Warn("policy set not loaded, retrying", "err", err, "retryIn", backoff)
			retry = time.After(backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		dirty, backoff = false, minBackoff
		if delivered && snap.head.Set == lastSet {
			continue
		}
		delivered, lastSet = true, snap.head.Set
		fn(snap.rules, snap.head.Revision)
	}
}
