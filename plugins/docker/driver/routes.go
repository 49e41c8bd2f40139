// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import "net/netip"

// clusterRoutes covers the cluster pool except this node's own CIDR, as
// the smallest set of prefixes: one half of each split that does not hold
// the node CIDR. The node CIDR itself is left out because Docker refuses
// to give an interface an address inside an existing route of the
// sandbox, which a second nori network of the same container would then
// be ("conflicts with existing route").
func clusterRoutes(cluster, node netip.Prefix) []netip.Prefix {
	cluster, node = cluster.Masked(), node.Masked()
	if !cluster.IsValid() || !node.IsValid() || !cluster.Addr().Is4() || !node.Addr().Is4() {
		return nil
	}
	if !cluster.Overlaps(node) {
		return []netip.Prefix{cluster}
	}
	if node.Bits() <= cluster.Bits() {
		return nil // the node holds the whole pool: nothing else to route
	}
	var out []netip.Prefix
	cur := cluster
	for cur.Bits() < node.Bits() {
		lo, hi := halves(cur)
		if lo.Contains(node.Addr()) {
			out = append(out, hi)
			cur = lo
		} else {
			out = append(out, lo)
			cur = hi
		}
	}
	return out
}

// halves splits an IPv4 prefix into its two halves.
func halves(p netip.Prefix) (netip.Prefix, netip.Prefix) {
	bits := p.Bits() + 1
	lo := netip.PrefixFrom(p.Addr(), bits)
	a := p.Addr().As4()
	bit := 32 - bits // the bit that tells the halves apart, from the right
	a[3-bit/8] |= 1 << (bit % 8)
	return lo, netip.PrefixFrom(netip.AddrFrom4(a), bits)
}
