// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipam

import (
	"net/netip"
	"time"

	"github.com/nori-net/nori/agent/api"
)

// Allocation is one address held by one attachment.
type Allocation struct {
	api.Attachment
	IP      netip.Addr `json:"ip"`
	Owner   string     `json:"owner,omitempty"`
	Network string     `json:"network,omitempty"`
	Created time.Time  `json:"created"`
}

// Store persists allocations. The Allocator serialises its calls, so an
// implementation need not be safe for concurrent use.
type Store interface {
	// Load returns every stored allocation and the address handed out last
	// (the zero Addr when unknown).
	Load() ([]Allocation, netip.Addr, error)
	// Put stores a new allocation durably before returning.
	Put(a Allocation) error
	// Delete forgets the allocation of ip; a missing one is not an error.
	Delete(ip netip.Addr) error
	// SetLast records the address handed out last; losing it only changes
	// where the next round-robin search starts.
	SetLast(ip netip.Addr) error
}
