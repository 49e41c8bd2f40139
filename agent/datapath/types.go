// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"net"
	"net/netip"
)

// Endpoint is one local container as the datapath sees it.
type Endpoint struct {
	// IP is the container's IPv4 address; it is the map key.
	IP netip.Addr
	// IfIndex is the host-side veth.
	IfIndex int
	// MAC is the container side of the veth, NodeMAC the host side.
	MAC     net.HardwareAddr
	NodeMAC net.HardwareAddr
	// Identity is the security identity of the endpoint's labels.
	Identity uint32
	// ID is the agent's endpoint ID.
	ID uint16
	// Flags are EndpointPolicyIngress and friends.
	Flags uint16
}

// IPCacheEntry maps an address prefix to its identity and, for addresses
// on other nodes, to the node that hosts them.
type IPCacheEntry struct {
	Prefix   netip.Prefix
	Identity uint32
	// TunnelEndpoint is the underlay address of the hosting node; the
	// zero Addr means local or not behind a tunnel.
	TunnelEndpoint netip.Addr
	Flags          uint16
}

// NodeConfig holds the node-wide settings the programs read.
type NodeConfig struct {
	// RouterIP is the gateway address the containers route through.
	RouterIP netip.Addr
	// ClusterCIDR is the cluster pool, e.g. 10.0.0.0/8.
	ClusterCIDR netip.Prefix
	// NodeIP is this node's underlay address.
	NodeIP netip.Addr
	// TunnelIfIndex is the VXLAN device, 0 when there is none.
	TunnelIfIndex int
	// Flags are ConfigTunnel and friends.
	Flags uint32
}

// MetricKey names one counter.
type MetricKey struct {
	Reason Reason
	Dir    Direction
}

// MetricValue is a counter summed over all CPUs.
type MetricValue struct {
	Packets uint64
	Bytes   uint64
}
