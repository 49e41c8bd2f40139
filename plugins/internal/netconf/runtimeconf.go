// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package netconf

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/nori-net/nori/agent/api"
)

// RuntimeConfig holds the capabilities Nori declares: portMappings (for
// display; the portmap plugin later in the chain applies them) and ips
// (static addresses, handed to IPAM).
type RuntimeConfig struct {
	PortMappings []api.PortMapping `json:"portMappings,omitempty"`
	IPs          []string          `json:"ips,omitempty"`
}

func (r *RuntimeConfig) validate() *types.Error {
	for i, pm := range r.PortMappings {
		field := fmt.Sprintf("runtimeConfig.portMappings[%d]", i)
		if pm.HostPort < 0 || pm.HostPort > 65535 {
			return invalid(field+".hostPort", "must be between 0 and 65535, got %d", pm.HostPort)
		}
		if pm.ContainerPort < 1 || pm.ContainerPort > 65535 {
			return invalid(field+".containerPort", "must be between 1 and 65535, got %d", pm.ContainerPort)
		}
		switch strings.ToLower(pm.Protocol) {
		case "", "tcp", "udp", "sctp":
		default:
			return invalid(field+".protocol", "must be tcp, udp or sctp, got %q", pm.Protocol)
		}
		if pm.HostIP != "" {
			if _, err := netip.ParseAddr(pm.HostIP); err != nil {
				return invalid(field+".hostIP", "%q is not an IP address", pm.HostIP)
			}
		}
	}
	for i, ip := range r.IPs {
		if !validIP(ip) {
			return invalid(fmt.Sprintf("runtimeConfig.ips[%d]", i), "%q is not an IP address or CIDR", ip)
		}
	}
	return nil
}

// validIP accepts "a.b.c.d" and "a.b.c.d/n", the two forms of the ips
// capability.
func validIP(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	_, err := netip.ParsePrefix(s)
	return err == nil
}

// bareIP drops a prefix length: the agent allocates addresses, the prefix
// length is its business.
func bareIP(s string) string {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Addr().String()
	}
	return s
}
