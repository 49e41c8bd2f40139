// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package kvstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/nori-net/nori/agent/api"
)

// Status describes the Store's connection for `nori status`.
type Status struct {
	// Connected is true while the session lease is held and was renewed
	// within the last two keep-alive intervals.
	Connected   bool
	Endpoints   []string
	Prefix      string
	LeaseID     int64
	LeaseTTL    time.Duration
	LastRenew   time.Time
	LeasedKeys  int
	LastError   string
	LastErrorAt time.Time
}

// Status reports the connection state; it never blocks on etcd.
func (s *Store) Status() Status {
	s.putMu.Lock()
	n := len(s.leased)
	s.putMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{
		Endpoints:   append([]string(nil), s.endpoints...),
		Prefix:      s.prefix,
		LeaseID:     int64(s.leaseID),
		LeaseTTL:    s.ttl,
		LastRenew:   s.lastRenew,
		LeasedKeys:  n,
		LastErrorAt: s.lastErrAt,
	}
	if s.lastErr != nil {
		st.LastError = s.lastErr.Error()
	}
	st.Connected = s.leaseID != 0 && time.Since(s.lastRenew) < 2*s.ttl/3+time.Second
	return st
}

// Component renders the status as one `nori status` line.
func (st Status) Component() api.ComponentStatus {
	eps := strings.Join(st.Endpoints, ",")
	if st.Connected {
		return api.ComponentStatus{State: "Ok", Message: fmt.Sprintf("etcd: %s, lease %x (ttl %s), %d leased keys", eps, st.LeaseID, st.LeaseTTL, st.LeasedKeys)}
	}
	msg := fmt.Sprintf("etcd: %s unreachable", eps)
	if !st.LastRenew.IsZero() {
		msg += fmt.Sprintf(", last lease renewal %s ago", time.Since(st.LastRenew).Round(time.Second))
	}
	if st.LastError != "" {
		msg += ": " + st.LastError
	}
	return api.ComponentStatus{State: "Failure", Message: msg}
}
