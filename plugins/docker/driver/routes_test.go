// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import (
	"net/netip"
	"slices"
	"testing"
)

func TestClusterRoutes(t *testing.T) {
	pfx := netip.MustParsePrefix
	for _, c := range []struct {
		cluster, node string
		want          []string
	}{
		{"10.0.0.0/8", "10.0.0.0/24", []string{"10.128.0.0/9", "10.64.0.0/10", "10.32.0.0/11", "10.16.0.0/12",
			"10.8.0.0/13", "10.4.0.0/14", "10.2.0.0/15", "10.1.0.0/16", "10.0.128.0/17", "10.0.64.0/18",
			"10.0.32.0/19", "10.0.16.0/20", "10.0.8.0/21", "10.0.4.0/22", "10.0.2.0/23", "10.0.1.0/24"}},
		{"10.96.0.0/12", "10.99.0.0/24", []string{"10.104.0.0/13", "10.100.0.0/14", "10.96.0.0/15", "10.98.0.0/16",
			"10.99.128.0/17", "10.99.64.0/18", "10.99.32.0/19", "10.99.16.0/20", "10.99.8.0/21", "10.99.4.0/22",
			"10.99.2.0/23", "10.99.1.0/24"}},
		{"10.0.0.0/24", "10.0.0.0/24", nil},
		{"10.0.0.0/8", "192.168.0.0/24", []string{"10.0.0.0/8"}},
	} {
		var got []string
		for _, p := range clusterRoutes(pfx(c.cluster), pfx(c.node)) {
			got = append(got, p.String())
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("clusterRoutes(%s, %s) = %v, want %v", c.cluster, c.node, got, c.want)
		}
		// Together with the node CIDR they cover the pool exactly once.
		for _, p := range clusterRoutes(pfx(c.cluster), pfx(c.node)) {
			if p.Overlaps(pfx(c.node)) || !pfx(c.cluster).Contains(p.Addr()) {
				t.Errorf("clusterRoutes(%s, %s): %s overlaps the node or leaves the pool", c.cluster, c.node, p)
			}
		}
	}
}
