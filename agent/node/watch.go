// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package node

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/nori-net/nori/agent/kvstore"
)

// EventType says what happened to a node.
type EventType int

const (
	NodeAdded EventType = iota
	NodeUpdated
	NodeDeleted
	// NodesSynced: every node present when the watch began was sent.
	NodesSynced
)

func (t EventType) String() string {
	return [...]string{"added", "updated", "deleted", "synced"}[t]
}

// Event is one change of a node; a deleted node carries its last content.
type Event struct {
	Type EventType
	Node Node
}

// Watch sends every node, NodesSynced, then changes until ctx ends. A node
// is deleted when `nori node delete` removed it or its agent's lease
// expired.
func Watch(ctx context.Context, store *kvstore.Store, logger *slog.Logger) <-chan Event {
	out := make(chan Event, 16)
	go func() {
		defer close(out)
		known := map[string]Node{}
		send := func(ev Event) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for ev := range store.ListAndWatch(ctx, nodesPrefix) {
			var e Event
			switch ev.Type {
			case kvstore.EventSynced:
				e = Event{Type: NodesSynced}
			case kvstore.EventDelete:
				name := strings.TrimPrefix(ev.Key, nodesPrefix)
				n, ok := known[name]
				if !ok {
					continue
				}
				delete(known, name)
				e = Event{Type: NodeDeleted, Node: n}
			case kvstore.EventUpsert:
				var n Node
				if err := json.Unmarshal(ev.Value, &n); err != nil {
					logger.Warn("ignoring malformed node entry", "key", ev.Key, "err", err)
					continue
				}
				old, ok := known[n.Name]
				known[n.Name] = n
				switch {
				case !ok:
					e = Event{Type: NodeAdded, Node: n}
				case old != n:
					e = Event{Type: NodeUpdated, Node: n}
				default:
					continue
				}
			}
			if !send(e) {
				return
			}
		}
	}()
	return out
}

// Watch is Watch on the Manager's store.
func (m *Manager) Watch(ctx context.Context) <-chan Event { return Watch(ctx, m.store, m.logger) }
