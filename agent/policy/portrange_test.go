// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"reflect"
	"testing"
)

func TestPortPrefixes(t *testing.T) {
	tests := []struct {
		lo, hi uint16
		want   []PortPrefix
	}{
		{443, 443, []PortPrefix{{443, 16}}},
		{0, 65535, []PortPrefix{{0, 0}}},
		{8000, 8007, []PortPrefix{{8000, 13}}},
		{8000, 8080, []PortPrefix{{8000, 10}, {8064, 12}, {8080, 16}}},
		{1, 3, []PortPrefix{{1, 16}, {2, 15}}},
		{65535, 65535, []PortPrefix{{65535, 16}}},
		{5, 4, nil},
	}
	for _, tt := range tests {
		got := PortPrefixes(tt.lo, tt.hi)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%d-%d: got %v, want %v", tt.lo, tt.hi, got, tt.want)
		}
	}
	// Every range is covered exactly: each port in it falls in one prefix.
	for _, r := range [][2]uint16{{1, 65534}, {1000, 2000}, {3, 17}} {
		count := map[uint32]int{}
		ps := PortPrefixes(r[0], r[1])
		if len(ps) > 30 {
			t.Errorf("%v: %d prefixes", r, len(ps))
		}
		for _, p := range ps {
			size := uint32(1) << (16 - p.Bits)
			for port := uint32(p.Port); port < uint32(p.Port)+size; port++ {
				count[port]++
			}
		}
		for port := uint32(0); port < 65536; port++ {
			in := port >= uint32(r[0]) && port <= uint32(r[1])
			if (in && count[port] != 1) || (!in && count[port] != 0) {
				t.Fatalf("%v: port %d covered %d times", r, port, count[port])
			}
		}
	}
}
