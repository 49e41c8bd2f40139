// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

// PortPrefix is a port range an LPM trie can hold: the ports whose top
// Bits bits equal Port's.
type PortPrefix struct {
	Port uint16
	Bits uint8 // 0 (every port) to 16 (one port)
}

// PortPrefixes covers lo..hi exactly with the fewest prefixes, for a BPF
// LPM policy map keyed by (identity, proto, port prefix) as Cilium's.
// An entry range becomes at most 30 prefixes.
func PortPrefixes(lo, hi uint16) []PortPrefix {
	if lo > hi {
		return nil
	}
	var out []PortPrefix
	for cur := uint32(lo); cur <= uint32(hi); {
		// The largest aligned block starting at cur that fits in the range.
		size := uint32(1)
		for bits := 16; bits > 0; bits-- {
			next := size << 1
			if cur%next != 0 || cur+next-1 > uint32(hi) {
				break
			}
			size = next
		}
		var bits uint8 = 16
		for s := size; s > 1; s >>= 1 {
			bits--
		}
		out = append(out, PortPrefix{Port: uint16(cur), Bits: bits})
		cur += size
	}
	return out
}
