// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipcache

import (
	"net/netip"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/datapath"
	"github.com/nori-net/nori/agent/node"
)

func mkNode(name, ip, cidr string) node.Node {
	return node.Node{Name: name, IPv4: netip.MustParseAddr(ip), IPv4CIDR: netip.MustParsePrefix(cidr)}
}

func mkEntry(ip string, id uint32, hostIP, node string) received {
	return received{Entry: Entry{IP: netip.MustParseAddr(ip), Identity: id, HostIP: netip.MustParseAddr(hostIP), Node: node, Created: 1}}
}

func TestDesiredState(t *testing.T) {
	remote := datapath.IPCacheRemote
	pfx := netip.MustParsePrefix
	addr := netip.MustParseAddr
	tests := []struct {
		name    string
		nodes   []node.Node
		entries []received
		want    map[string]datapath.IPCacheEntry
		remotes []Remote
	}{
		{
			name:  "local node only",
			nodes: []node.Node{mkNode("h1", "172.30.0.1", "10.0.1.0/24")},
			entries: []received{
				mkEntry("10.0.1.5", 300, "172.30.0.1", "h1"), // own endpoint: the endpoint path writes it
			},
			want: map[string]datapath.IPCacheEntry{
				"172.30.0.1/32": {Identity: 1},
			},
		},
		{
			name:  "two remote nodes with endpoints",
			nodes: []node.Node{mkNode("h1", "172.30.0.1", "10.0.1.0/24"), mkNode("h2", "172.30.0.2", "10.0.2.0/24"), mkNode("h3", "172.30.0.3", "10.0.3.0/24")},
			entries: []received{
				mkEntry("10.0.2.7", 300, "172.30.0.2", "h2"),
				mkEntry("10.0.3.9", 301, "172.30.0.3", "h3"),
			},
			want: map[string]datapath.IPCacheEntry{
				"172.30.0.1/32": {Identity: 1},
				"172.30.0.2/32": {Identity: 6},
				"172.30.0.3/32": {Identity: 6},
				"10.0.2.0/24":   {Identity: 0, TunnelEndpoint: addr("172.30.0.2"), Flags: remote},
				"10.0.3.0/24":   {Identity: 0, TunnelEndpoint: addr("172.30.0.3"), Flags: remote},
				"10.0.2.254/32": {Identity: 4, TunnelEndpoint: addr("172.30.0.2"), Flags: remote},
				"10.0.3.254/32": {Identity: 4, TunnelEndpoint: addr("172.30.0.3"), Flags: remote},
				"10.0.2.7/32":   {Identity: 300, TunnelEndpoint: addr("172.30.0.2"), Flags: remote},
				"10.0.3.9/32":   {Identity: 301, TunnelEndpoint: addr("172.30.0.3"), Flags: remote},
			},
			remotes: []Remote{{pfx("10.0.2.0/24"), addr("172.30.0.2")}, {pfx("10.0.3.0/24"), addr("172.30.0.3")}},
		},
		{
			name:  "endpoint of a node not (yet) seen still goes behind its host",
			nodes: []node.Node{mkNode("h1", "172.30.0.1", "10.0.1.0/24")},
			entries: []received{
				mkEntry("10.0.2.7", 300, "172.30.0.2", "h2"),
			},
			want: map[string]datapath.IPCacheEntry{
				"172.30.0.1/32": {Identity: 1},
				"10.0.2.7/32":   {Identity: 300, TunnelEndpoint: addr("172.30.0.2"), Flags: remote},
			},
		},
		{
			name: "stale claims on the local CIDR are ignored",
			nodes: []node.Node{
				mkNode("h1", "172.30.0.1", "10.0.1.0/24"),
				mkNode("old", "172.30.0.9", "10.0.1.0/24"),
			},
			entries: []received{
				mkEntry("10.0.1.8", 300, "172.30.0.9", "old"),
				mkEntry("10.0.1.254", 300, "172.30.0.9", "old"),
			},
			want: map[string]datapath.IPCacheEntry{
				"172.30.0.1/32": {Identity: 1},
				"172.30.0.9/32": {Identity: 6},
			},
		},
		{
			name:  "an endpoint cannot take a node's health address",
			nodes: []node.Node{mkNode("h1", "172.30.0.1", "10.0.1.0/24"), mkNode("h2", "172.30.0.2", "10.0.2.0/24")},
			entries: []received{
				mkEntry("10.0.2.254", 300, "172.30.0.2", "h2"),
			},
			want: map[string]datapath.IPCacheEntry{
				"172.30.0.1/32": {Identity: 1},
				"172.30.0.2/32": {Identity: 6},
				"10.0.2.0/24":   {Identity: 0, TunnelEndpoint: addr("172.30.0.2"), Flags: remote},
				"10.0.2.254/32": {Identity: 4, TunnelEndpoint: addr("172.30.0.2"), Flags: remote},
			},
			remotes: []Remote{{pfx("10.0.2.0/24"), addr("172.30.0.2")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := map[string]node.Node{}
			for _, n := range tt.nodes {
				nodes[n.Name] = n
			}
			entries := map[netip.Addr]received{}
			for _, e := range tt.entries {
				entries[e.IP] = e
			}
			got, remotes := desiredState("h1", nodes, entries)
			if len(got) != len(tt.want) {
				t.Errorf("got %d entries, want %d: %v", len(got), len(tt.want), got)
			}
			for p, w := range tt.want {
				w.Prefix = pfx(p)
				if g, ok := got[w.Prefix]; !ok || g.entry != w {
					t.Errorf("%s: got %+v (present %v), want %+v", p, g.entry, ok, w)
				}
				if !owned(w) && w.Identity != 1 {
					t.Errorf("%s: the syncer would not recognise its own entry after a restart", p)
				}
			}
			if len(remotes) != len(tt.remotes) {
				t.Fatalf("remotes %v, want %v", remotes, tt.remotes)
			}
			for i := range remotes {
				if remotes[i] != tt.remotes[i] {
					t.Errorf("remotes %v, want %v", remotes, tt.remotes)
				}
			}
		})
	}
}

func TestOwned(t *testing.T) {
	tests := []struct {
		e    datapath.IPCacheEntry
		want bool
	}{
		{datapath.IPCacheEntry{Prefix: netip.MustParsePrefix("10.0.1.5/32"), Identity: 300}, false},
		{datapath.IPCacheEntry{Prefix: netip.MustParsePrefix("10.0.1.1/32"), Identity: 1}, false},
		{datapath.IPCacheEntry{Prefix: netip.MustParsePrefix("10.0.1.254/32"), Identity: 4}, false},
		{datapath.IPCacheEntry{Prefix: netip.MustParsePrefix("172.30.0.2/32"), Identity: 6}, true},
		{datapath.IPCacheEntry{Prefix: netip.MustParsePrefix("10.0.2.0/24"), TunnelEndpoint: netip.MustParseAddr("172.30.0.2"), Flags: datapath.IPCacheRemote}, true},
	}
	for _, tt := range tests {
		if got := owned(tt.e); got != tt.want {
			t.Errorf("owned(%+v) = %v, want %v", tt.e, got, tt.want)
		}
	}
}

func TestQuantile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}}
	for _, tt := range tests {
		if got := quantile(s, tt.q); got != tt.want {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
}
