// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package overlay

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestDesiredRoutes(t *testing.T) {
	cidr := netip.MustParsePrefix("10.0.2.0/24")
	node := netip.MustParseAddr("172.30.0.2")
	tests := []struct {
		name    string
		mode    Mode
		remotes []Remote
		want    []route
		wantErr string
	}{
		{"tunnel needs no node IP", ModeTunnel, []Remote{{CIDR: cidr}}, []route{{Dst: cidr}}, ""},
		{"native goes via the node", ModeNative, []Remote{{CIDR: cidr, NodeIP: node}}, []route{{Dst: cidr, Via: node}}, ""},
		{"prefix is masked", ModeTunnel, []Remote{{CIDR: netip.MustParsePrefix("10.0.2.9/24"), NodeIP: node}}, []route{{Dst: cidr}}, ""},
		{"none", ModeNative, nil, []route{}, ""},
		{"unknown mode", Mode("geneve"), nil, nil, "neither"},
		{"native without node IP", ModeNative, []Remote{{CIDR: cidr}}, nil, "not IPv4"},
		{"ipv6 prefix", ModeTunnel, []Remote{{CIDR: netip.MustParsePrefix("fd00::/64")}}, nil, "not an IPv4 prefix"},
		{"invalid prefix", ModeTunnel, []Remote{{}}, nil, "not an IPv4 prefix"},
		{"duplicate", ModeTunnel, []Remote{{CIDR: cidr}, {CIDR: cidr}}, nil, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := desiredRoutes(tt.mode, tt.remotes)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("routes = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStaleRoutes(t *testing.T) {
	a, b, c := netip.MustParsePrefix("10.0.1.0/24"), netip.MustParsePrefix("10.0.2.0/24"), netip.MustParsePrefix("10.0.3.0/24")
	tests := []struct {
		name     string
		existing []netip.Prefix
		desired  []route
		want     []netip.Prefix
	}{
		{"nothing installed", nil, []route{{Dst: a}}, nil},
		{"all still wanted", []netip.Prefix{a, b}, []route{{Dst: a}, {Dst: b}}, nil},
		{"node gone", []netip.Prefix{a, b, c}, []route{{Dst: b}}, []netip.Prefix{a, c}},
		{"remove all", []netip.Prefix{a}, nil, []netip.Prefix{a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := staleRoutes(tt.existing, tt.desired); !slices.Equal(got, tt.want) {
				t.Fatalf("stale = %v, want %v", got, tt.want)
			}
		})
	}
}
