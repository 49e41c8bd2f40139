// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policyengine

import (
	"net/netip"

	"github.com/nori-net/nori/agent/policy"
)

// LocalIdentityBase is the first CIDR identity. Identities from here up
// exist on one node only (Cilium's local scope, 1<<24), above every
// cluster identity (cluster ID << 16 + 0xffff).
const LocalIdentityBase uint32 = 1 << 24

// cidrLabel is the label of a CIDR identity; the policy package counts
// "cidr:" identities as world, as Cilium does.
func cidrLabel(p netip.Prefix) string { return "cidr:" + p.String() }

// cidrIdentities numbers the prefixes CIDR rules name. Numbers are reused
// only after a prefix went away, so a prefix keeps its identity while any
// rule names it.
type cidrIdentities struct {
	byPrefix map[netip.Prefix]uint32
	byID     map[uint32]netip.Prefix
	next     uint32
	free     []uint32
}

func newCIDRIdentities() *cidrIdentities {
	return &cidrIdentities{byPrefix: map[netip.Prefix]uint32{}, byID: map[uint32]netip.Prefix{}, next: LocalIdentityBase}
}

func (c *cidrIdentities) len() int { return len(c.byID) }

func (c *cidrIdentities) all() map[uint32]netip.Prefix { return c.byID }

func (c *cidrIdentities) idOf(p netip.Prefix) (uint32, bool) {
	id, ok := c.byPrefix[p]
	return id, ok
}

func (c *cidrIdentities) prefixOf(id uint32) (netip.Prefix, bool) {
	p, ok := c.byID[id]
	return p, ok
}

// add numbers the prefixes not numbered yet and returns them.
func (c *cidrIdentities) add(prefixes map[netip.Prefix]bool) []netip.Prefix {
	var added []netip.Prefix
	for p := range prefixes {
		if _, ok := c.byPrefix[p]; ok {
			continue
		}
		var id uint32
		if n := len(c.free); n > 0 {
			id, c.free = c.free[n-1], c.free[:n-1]
		} else {
			id = c.next
			c.next++
		}
		c.byPrefix[p] = id
		c.byID[id] = p
		added = append(added, p)
	}
	return added
}

// retain forgets every prefix not in keep and returns the forgotten ones.
func (c *cidrIdentities) retain(keep map[netip.Prefix]bool) []netip.Prefix {
	var gone []netip.Prefix
	for p, id := range c.byPrefix {
		if keep[p] {
			continue
		}
		delete(c.byPrefix, p)
		delete(c.byID, id)
		c.free = append(c.free, id)
		gone = append(gone, p)
	}
	return gone
}

// within returns the identities of addresses in p: the CIDR identities of
// p and of every prefix inside it, and world for 0.0.0.0/0 (the datapath
// gives addresses without an ipcache entry the world identity).
func (c *cidrIdentities) within(p netip.Prefix) []uint32 {
	var out []uint32
	if p.Bits() == 0 {
		out = append(out, policy.IDWorld)
	}
	for q, id := range c.byPrefix {
		if q.Bits() >= p.Bits() && p.Contains(q.Addr()) {
			out = append(out, id)
		}
	}
	return out
}
