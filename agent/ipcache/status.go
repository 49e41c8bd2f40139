// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipcache

import (
	"fmt"
	"time"

	"github.com/nori-net/nori/agent/api"
)

// SyncStatus reports the Syncer for `nori status`.
type SyncStatus struct {
	// Synced is true once both watches listed everything and the
	// datapath reflects it; it stays true while etcd is away, since the
	// datapath keeps the last known state.
	Synced          bool
	LastEvent       time.Time
	RemoteNodes     int
	RemoteEndpoints int
	// Entries is the number of datapath entries the Syncer owns.
	Entries     int
	Failing     bool
	LastError   string
	LastErrorAt time.Time
}

// Status returns the Syncer's state; it never blocks on etcd or the
// datapath.
func (s *Syncer) Status() SyncStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SyncStatus{
		Synced:          s.isSynced,
		LastEvent:       s.lastEvent,
		RemoteEndpoints: s.remoteEPs,
		Entries:         s.appliedN,
		Failing:         s.failing,
		LastError:       s.lastErr,
		LastErrorAt:     s.lastErrAt,
	}
	for name := range s.nodes {
		if name != s.cfg.NodeName {
			st.RemoteNodes++
		}
	}
	return st
}

// Component is the `Cluster sync` line of `nori status`.
func (st SyncStatus) Component(now time.Time) api.ComponentStatus {
	msg := fmt.Sprintf("%d remote nodes, %d remote endpoints, %d datapath entries", st.RemoteNodes, st.RemoteEndpoints, st.Entries)
	if !st.LastEvent.IsZero() {
		msg += fmt.Sprintf(", last event %s ago", now.Sub(st.LastEvent).Round(time.Second))
	}
	switch {
	case !st.Synced:
		return api.ComponentStatus{State: "Warning", Message: "waiting for the initial sync: " + msg}
	case st.Failing:
		return api.ComponentStatus{State: "Warning", Message: msg + ", retrying: " + st.LastError}
	}
	return api.ComponentStatus{State: "Ok", Message: msg}
}
