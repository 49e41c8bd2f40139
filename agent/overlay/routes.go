// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package overlay

import (
	"fmt"
	"net/netip"
)

// route is one desired route to a remote CIDR, independent of netlink so
// that the planning below is plain data.
type route struct {
	Dst netip.Prefix
	// Via is the next hop in native mode; invalid in tunnel mode, where
	// the route points at the VXLAN device.
	Via netip.Addr
}

// desiredRoutes checks the remotes and turns them into routes for mode.
func desiredRoutes(mode Mode, remotes []Remote) ([]route, error) {
	if mode != ModeTunnel && mode != ModeNative {
		return nil, fmt.Errorf("tunnel mode %q is neither %q nor %q", mode, ModeTunnel, ModeNative)
	}
	seen := make(map[netip.Prefix]bool, len(remotes))
	out := make([]route, 0, len(remotes))
	for _, r := range remotes {
		if !r.CIDR.IsValid() || !r.CIDR.Addr().Is4() {
			return nil, fmt.Errorf("remote CIDR %v is not an IPv4 prefix", r.CIDR)
		}
		dst := r.CIDR.Masked()
		if seen[dst] {
			return nil, fmt.Errorf("remote CIDR %v listed twice", dst)
		}
		seen[dst] = true
		rt := route{Dst: dst}
		if mode == ModeNative {
			if !r.NodeIP.IsValid() || !r.NodeIP.Is4() {
				return nil, fmt.Errorf("remote CIDR %v: node address %v is not IPv4", dst, r.NodeIP)
			}
			rt.Via = r.NodeIP
		}
		out = append(out, rt)
	}
	return out, nil
}

// staleRoutes returns the destinations of our existing routes that no
// desired route replaces.
func staleRoutes(existing []netip.Prefix, desired []route) []netip.Prefix {
	want := make(map[netip.Prefix]bool, len(desired))
	for _, r := range desired {
		want[r.Dst] = true
	}
	var out []netip.Prefix
	for _, p := range existing {
		if !want[p] {
			out = append(out, p)
		}
	}
	return out
}
