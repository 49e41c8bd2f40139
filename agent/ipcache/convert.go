// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipcache

import (
	"net/netip"
	"slices"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/datapath"
)

// APIEntries converts the datapath's ipcache map for GET /v1/bpf/ipcache,
// sorted by prefix.
func APIEntries(list []datapath.IPCacheEntry) []api.BPFIPCacheEntry {
	list = slices.Clone(list)
	slices.SortFunc(list, func(a, b datapath.IPCacheEntry) int { return comparePrefix(a.Prefix, b.Prefix) })
	out := make([]api.BPFIPCacheEntry, 0, len(list))
	for _, e := range list {
		a := api.BPFIPCacheEntry{Prefix: e.Prefix.String(), Identity: e.Identity}
		if e.TunnelEndpoint.IsValid() {
			a.TunnelEndpoint = e.TunnelEndpoint.String()
		}
		if e.Flags&datapath.IPCacheRemote != 0 {
			a.Flags = append(a.Flags, "remote")
		}
		out = append(out, a)
	}
	return out
}

// APITunnels converts remote node CIDRs for GET /v1/bpf/tunnel, sorted by
// prefix.
func APITunnels(remotes []Remote) []api.BPFTunnelEntry {
	remotes = slices.Clone(remotes)
	slices.SortFunc(remotes, func(a, b Remote) int { return comparePrefix(a.CIDR, b.CIDR) })
	out := make([]api.BPFTunnelEntry, 0, len(remotes))
	for _, r := range remotes {
		out = append(out, api.BPFTunnelEntry{Prefix: r.CIDR.String(), TunnelEndpoint: r.NodeIP.String()})
	}
	return out
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// APITunnelsFromIPCache derives GET /v1/bpf/tunnel from the ipcache map,
// which holds the tunnel entries (node CIDR → node address) as long as the
// datapath has no tunnel map of its own: every entry wider than one
// address that has a tunnel endpoint.
func APITunnelsFromIPCache(list []datapath.IPCacheEntry) []api.BPFTunnelEntry {
	var remotes []Remote
	for _, e := range list {
		if e.TunnelEndpoint.IsValid() && e.Prefix.Bits() < e.Prefix.Addr().BitLen() {
			remotes = append(remotes, Remote{CIDR: e.Prefix, NodeIP: e.TunnelEndpoint})
		}
	}
	return APITunnels(remotes)
}
