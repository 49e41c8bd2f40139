// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package health

import (
	"net/netip"
	"testing"
)

func TestIP(t *testing.T) {
	tests := []struct {
		cidr string
		want string
	}{
		{"10.0.3.0/24", "10.0.3.254"},
		{"10.0.3.0/16", "10.0.255.254"},
		{"10.0.3.7/24", "10.0.3.254"},
		{"127.0.0.0/30", "127.0.0.2"},
		{"10.0.0.0/8", "10.255.255.254"},
		{"10.0.0.0/31", "invalid IP"},
		{"10.0.0.1/32", "invalid IP"},
		{"fd00::/64", "invalid IP"},
	}
	for _, tt := range tests {
		if got := IP(netip.MustParsePrefix(tt.cidr)).String(); got != tt.want {
			t.Errorf("IP(%s) = %s, want %s", tt.cidr, got, tt.want)
		}
	}
	if got := IP(netip.Prefix{}); got.IsValid() {
		t.Errorf("IP(zero) = %s, want invalid", got)
	}
}
