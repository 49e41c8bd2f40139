// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import "net/netip"

// subtractPrefixes returns prefixes covering exactly p minus every except.
// The datapath matches prefixes by longest match, so "10/8 except 10.1/16"
// must become the prefixes around the hole rather than an allow plus a
// deny (a deny would beat other rules allowing 10.1/16).
func subtractPrefixes(p netip.Prefix, excepts []netip.Prefix) []netip.Prefix {
	for _, e := range excepts {
		if e.Bits() <= p.Bits() && e.Contains(p.Addr()) {
			return nil // the hole covers p entirely
		}
	}
	var inside []netip.Prefix
	for _, e := range excepts {
		if e.Bits() > p.Bits() && p.Contains(e.Addr()) {
			inside = append(inside, e)
		}
	}
	if len(inside) == 0 {
		return []netip.Prefix{p}
	}
	lo, hi := halves(p)
	return append(subtractPrefixes(lo, inside), subtractPrefixes(hi, inside)...)
}

// halves splits p into its two children one bit longer.
func halves(p netip.Prefix) (netip.Prefix, netip.Prefix) {
	bits := p.Bits() + 1
	lo := netip.PrefixFrom(p.Addr(), bits)
	b := p.Addr().AsSlice()
	i := p.Bits()
	b[i/8] |= 0x80 >> (i % 8)
	hiAddr, _ := netip.AddrFromSlice(b)
	return lo, netip.PrefixFrom(hiAddr, bits)
}
