// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package overlay

import (
	"log/slog"
	"net/netip"
)

const (
	// DefaultDevice is the name of the VXLAN device.
	DefaultDevice = "nori_vxlan"
	// DefaultPort is the VXLAN UDP port (--tunnel-port); 8472 as Cilium
	// and Flannel, not IANA's 4789, so Nori can share a host with a
	// standard VXLAN user.
	DefaultPort = 8472
	// Overhead is what VXLAN over IPv4 adds to an inner IPv4 packet:
	// outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). The
	// endpoint MTU must be the underlay MTU minus this: the outer packet
	// has no DF bit, so anything bigger is silently fragmented in the
	// underlay and throughput collapses (research/spike.md §4).
	Overhead = 50
	// RouteProtocol tags every route this package installs (the
	// rtm_protocol field, shown by `ip route` as "proto 78"), so that it
	// removes only routes it made. 78 is unused by the values in
	// /etc/iproute2/rt_protos.
	RouteProtocol = 78
)

// Mode is how packets reach other nodes, the values of --tunnel.
type Mode string

const (
	// ModeTunnel encapsulates in VXLAN.
	ModeTunnel Mode = "vxlan"
	// ModeNative routes endpoint addresses natively via the other node's
	// underlay address; nodes must share an L2 segment.
	ModeNative Mode = "disabled"
)

// Config describes the node's overlay.
type Config struct {
	// Device is the VXLAN device's name; empty means DefaultDevice.
	Device string
	// Port is the VXLAN UDP port; 0 means DefaultPort.
	Port int
	// MTU of the VXLAN device; 0 leaves the kernel's default. The agent
	// sets the underlay MTU minus Overhead, which is what the node's
	// own traffic into the overlay then uses.
	MTU int
	// RouterIP is this node's router address (on nori_host). Routes to
	// remote CIDRs use it as source, so replies come back to an address
	// inside the cluster pool, through the overlay.
	RouterIP netip.Addr
	Logger   *slog.Logger
}

// Remote is another node's endpoint CIDR and its underlay address.
type Remote struct {
	CIDR   netip.Prefix
	NodeIP netip.Addr
}

func (c Config) device() string {
	if c.Device == "" {
		return DefaultDevice
	}
	return c.Device
}

func (c Config) port() int {
	if c.Port == 0 {
		return DefaultPort
	}
	return c.Port
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger.With("subsys", "overlay")
}
