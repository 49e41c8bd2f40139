// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policymap

import "testing"

func TestKeyMatches(t *testing.T) {
	tests := []struct {
		name    string
		key     Key
		id      uint32
		proto   uint8
		port    uint16
		want    bool
		wantLen int
	}{
		{"any protocol matches ICMP", ing(0, 0, 0, 0), 0, icmp, 8, true, 0},
		{"other identity", ing(256, 0, 0, 0), 257, tcp, 80, false, 0},
		{"protocol only", ing(256, tcp, 0, 0), 256, tcp, 65535, true, 8},
		{"wrong protocol", ing(256, tcp, 0, 0), 256, udp, 80, false, 8},
		{"exact port", ing(256, tcp, 80, 16), 256, tcp, 80, true, 24},
		{"exact port, other port", ing(256, tcp, 80, 16), 256, tcp, 81, false, 24},
		{"prefix 80/14 holds 83", ing(256, tcp, 80, 14), 256, tcp, 83, true, 22},
		{"prefix 80/14 not 84", ing(256, tcp, 80, 14), 256, tcp, 84, false, 22},
		{"upper half", ing(256, udp, 32768, 1), 256, udp, 65535, true, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.key.Matches(7, DirIngress, tt.id, tt.proto, tt.port); got != tt.want {
				t.Fatalf("Matches = %v, want %v", got, tt.want)
			}
			if tt.key.Matches(7, DirEgress, tt.id, tt.proto, tt.port) || tt.key.Matches(8, DirIngress, tt.id, tt.proto, tt.port) {
				t.Fatal("matched another endpoint or direction")
			}
			if got := tt.key.PrefixLen(); got != tt.wantLen {
				t.Fatalf("PrefixLen = %d, want %d", got, tt.wantLen)
			}
		})
	}
}
