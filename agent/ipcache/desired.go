// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipcache

import (
	"net/netip"
	"slices"

	"github.com/nori-net/nori/agent/datapath"
	"github.com/nori-net/nori/agent/health"
	"github.com/nori-net/nori/agent/identity"
	"github.com/nori-net/nori/agent/node"
)

// Remote is another node's CIDR and the underlay address it lies behind.
type Remote struct {
	CIDR   netip.Prefix
	NodeIP netip.Addr
}

// want is one datapath entry the Syncer wants, with the creation time of
// the etcd entry it came from (0 for entries derived from nodes).
type want struct {
	entry   datapath.IPCacheEntry
	created int64
	// live is true for an etcd entry that arrived after the initial
	// list, the only ones whose propagation time means something.
	live bool
}

// desiredState computes every datapath entry the Syncer owns from the
// nodes and ipcache entries seen in etcd, and the routes to other nodes.
// Local endpoints are left to the endpoint path: entries of the local
// node, or inside its CIDR, are skipped.
func desiredState(localName string, nodes map[string]node.Node, entries map[netip.Addr]received) (map[netip.Prefix]want, []Remote) {
	out := map[netip.Prefix]want{}
	local, hasLocal := nodes[localName]
	if hasLocal && local.IPv4.Is4() {
		out[host(local.IPv4)] = want{entry: datapath.IPCacheEntry{Prefix: host(local.IPv4), Identity: identity.Host}}
	}
	var remotes []Remote
	for _, n := range nodes {
		if n.Name == localName || !n.IPv4.Is4() {
			continue
		}
		// The underlay address is reached directly, not through a tunnel.
		out[host(n.IPv4)] = want{entry: datapath.IPCacheEntry{Prefix: host(n.IPv4), Identity: identity.RemoteNode}}
		cidr := n.IPv4CIDR.Masked()
		if !cidr.IsValid() || !cidr.Addr().Is4() || (hasLocal && local.IPv4CIDR.Overlaps(cidr)) {
			continue
		}
		out[cidr] = want{entry: datapath.IPCacheEntry{Prefix: cidr, Identity: identity.Unknown, TunnelEndpoint: n.IPv4, Flags: datapath.IPCacheRemote}}
		remotes = append(remotes, Remote{CIDR: cidr, NodeIP: n.IPv4})
		if hip := health.IP(cidr); hip.IsValid() {
			out[host(hip)] = want{entry: datapath.IPCacheEntry{Prefix: host(hip), Identity: identity.Health, TunnelEndpoint: n.IPv4, Flags: datapath.IPCacheRemote}}
		}
	}
	for _, r := range entries {
		e := r.Entry
		if e.Node == localName || !e.HostIP.Is4() || (hasLocal && (e.HostIP == local.IPv4 || local.IPv4CIDR.Contains(e.IP))) {
			continue
		}
		p := host(e.IP)
		if _, taken := out[p]; taken {
			// Node-derived entries (underlay, health) win over an
			// endpoint claiming the same address.
			continue
		}
		out[p] = want{entry: datapath.IPCacheEntry{Prefix: p, Identity: e.Identity, TunnelEndpoint: e.HostIP, Flags: datapath.IPCacheRemote}, created: e.Created, live: r.live}
	}
	slices.SortFunc(remotes, func(a, b Remote) int { return comparePrefix(a.CIDR, b.CIDR) })
	return out, remotes
}

// owned tells the Syncer's entries apart from the endpoint path's when
// the datapath is read back after a restart: the Syncer writes every
// tunnelled entry and every remote-node address; local endpoints have
// neither.
func owned(e datapath.IPCacheEntry) bool {
	return e.TunnelEndpoint.IsValid() || e.Flags&datapath.IPCacheRemote != 0 || e.Identity == identity.RemoteNode
}

func host(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }
