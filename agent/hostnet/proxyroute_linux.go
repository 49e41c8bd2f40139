// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package hostnet

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ProxyRouteTable is the routing table that delivers packets steered to
// the proxy (research/spike.md §5): a socket only gets packets the node
// routes as local, and a packet for a container address is not, so the
// datapath marks it and this table says "local" for every address.
const ProxyRouteTable = 2004

// proxyRulePriority places the rule before the main table (32766).
const proxyRulePriority = 9

// ensureProxyRouting installs `ip rule fwmark MARK/MASK lookup 2004` and
// `ip route local 0.0.0.0/0 dev lo table 2004`, replacing stale copies.
func ensureProxyRouting(mark, mask uint32) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("proxy routing: find lo: %w", err)
	}
	route := &netlink.Route{
		LinkIndex: lo.Attrs().Index,
		Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		Table:     ProxyRouteTable,
		Type:      unix.RTN_LOCAL,
		Scope:     netlink.SCOPE_HOST,
	}
	if err := netlink.RouteReplace(route); err != nil {
		return fmt.Errorf("proxy routing: add local route to table %d: %w", ProxyRouteTable, err)
	}
	rules, err := netlink.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("proxy routing: list rules: %w", err)
	}
	for _, r := range rules {
		if r.Table != ProxyRouteTable {
			continue
		}
		if r.Mark == mark && r.Mask != nil && *r.Mask == mask && r.Priority == proxyRulePriority {
			return nil
		}
		// An older agent's rule with other values.
		if err := netlink.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("proxy routing: remove stale rule: %w", err)
		}
	}
	rule := netlink.NewRule()
	rule.Family = netlink.FAMILY_V4
	rule.Mark = mark
	rule.Mask = &mask
	rule.Table = ProxyRouteTable
	rule.Priority = proxyRulePriority
	if err := netlink.RuleAdd(rule); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("proxy routing: add fwmark rule: %w", err)
	}
	return nil
}

// ProxyRoutingActive reports whether the proxy's fwmark rule is present.
func ProxyRoutingActive() error {
	rules, err := netlink.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list rules: %w", err)
	}
	for _, r := range rules {
		if r.Table == ProxyRouteTable {
			return nil
		}
	}
	return fmt.Errorf("no rule for table %d", ProxyRouteTable)
}
