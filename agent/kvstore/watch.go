// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package kvstore

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// EventType says what happened to a key.
type EventType int

const (
	// EventUpsert: the key was created or changed.
	EventUpsert EventType = iota
	// EventDelete: the key was deleted (or its lease expired).
	EventDelete
	// EventSynced: every key that existed when the watch began has been
	// sent; sent once per ListAndWatch.
	EventSynced
)

func (t EventType) String() string {
	switch t {
	case EventUpsert:
		return "upsert"
	case EventDelete:
		return "delete"
	case EventSynced:
		return "synced"
	}
	return "unknown"
}

// Event is one change under a watched prefix. Key is relative to the
// cluster prefix; Value is empty for deletes.
type Event struct {
	Type  EventType
	Key   string
	Value []byte
}

// ListAndWatch sends every key under prefix, then EventSynced, then every
// change, until ctx ends (then the channel is closed). When the watch
// breaks (compaction, leader loss) it lists again and sends deletes for
// keys that vanished meanwhile, so a consumer's cache converges without
// knowing etcd's revisions. While etcd is unreachable the channel stays
// quiet; nothing is deleted for that.
func (s *Store) ListAndWatch(ctx context.Context, prefix string) <-chan Event {
	ch := make(chan Event, 64)
	go s.listAndWatch(ctx, prefix, ch)
	return ch
}

func (s *Store) listAndWatch(ctx context.Context, prefix string, ch chan<- Event) {
	defer close(ch)
	emit := func(ev Event) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	known := map[string]bool{}
	synced := false
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		kvs, rev, err := s.List(ctx, prefix)
		if err != nil {
			s.logger.Debug("list for watch failed", "prefix", prefix, "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		seen := make(map[string]bool, len(kvs))
		for _, kv := range kvs {
			seen[kv.Key] = true
			if !emit(Event{Type: EventUpsert, Key: kv.Key, Value: kv.Value}) {
				return
			}
		}
		for k := range known {
			if !seen[k] && !emit(Event{Type: EventDelete, Key: k}) {
				return
			}
		}
		known = seen
		if !synced {
			if !emit(Event{Type: EventSynced}) {
				return
			}
			synced = true
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for resp := range s.cli.Watch(wctx, s.Key(prefix), clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
			if err := resp.Err(); err != nil {
				s.logger.Info("watch interrupted, listing again", "prefix", prefix, "err", err)
				break
			}
			for _, ev := range resp.Events {
				key := s.Rel(string(ev.Kv.Key))
				switch ev.Type {
				case clientv3.EventTypePut:
					known[key] = true
					if !emit(Event{Type: EventUpsert, Key: key, Value: ev.Kv.Value}) {
						cancel()
						return
					}
				case clientv3.EventTypeDelete:
					delete(known, key)
					if !emit(Event{Type: EventDelete, Key: key}) {
						cancel()
						return
					}
				}
			}
		}
		cancel()
	}
}
