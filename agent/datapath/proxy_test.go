// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import "testing"

func TestUpstreamMark(t *testing.T) {
	tests := []struct {
		id, mark, back uint32
	}{
		{id: 1, mark: 0x0001_0400, back: 1},
		{id: 256, mark: 0x0100_0400, back: 256},
		{id: 0xffff, mark: 0xffff_0400, back: 0xffff},
		// cluster 3, local identity 0x1234
		{id: 3<<16 | 0x1234, mark: 0x1234_0403, back: 3<<16 | 0x1234},
		{id: 0xffffff, mark: 0xffff_04ff, back: 0xffffff},
		// node-local CIDR identities do not fit: world
		{id: 1 << 24, mark: 0x0002_0400, back: 2},
	}
	for _, tt := range tests {
		m := UpstreamMark(tt.id)
		if m != tt.mark {
			t.Errorf("UpstreamMark(%#x) = %#x, want %#x", tt.id, m, tt.mark)
		}
		if m&MarkMagicMask != MarkFromProxy {
			t.Errorf("UpstreamMark(%#x) = %#x: magic %#x, want %#x", tt.id, m, m&MarkMagicMask, MarkFromProxy)
		}
		if m&MarkMagicMask == MarkToProxy {
			t.Errorf("UpstreamMark(%#x) = %#x would match the to-proxy fwmark rule", tt.id, m)
		}
		if back := MarkIdentity(m); back != tt.back {
			t.Errorf("MarkIdentity(%#x) = %#x, want %#x", m, back, tt.back)
		}
	}
}
