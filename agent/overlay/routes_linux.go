// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package overlay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// SetRemoteCIDRs makes the main routing table hold exactly one route per
// remote, and no other route tagged RouteProtocol:
//
//	tunnel: <cidr> dev <device> scope link src <router IP>
//	native: <cidr> via <node IP> src <router IP>
//
// The agent calls it with the full list whenever the set of nodes changes
// and on start; nil removes all of them. A route of someone else for the
// same CIDR is replaced (the kernel keys routes by destination), but
// routes to other destinations are never touched unless they carry the
// tag.
func SetRemoteCIDRs(cfg Config, mode Mode, remotes []Remote) error {
	log := cfg.logger()
	desired, err := desiredRoutes(mode, remotes)
	if err != nil {
		return fmt.Errorf("set remote routes: %w", err)
	}
	var src net.IP
	if cfg.RouterIP.IsValid() {
		if !cfg.RouterIP.Is4() {
			return fmt.Errorf("set remote routes: router IP %v is not IPv4", cfg.RouterIP)
		}
		src = cfg.RouterIP.AsSlice()
	}
	devIndex := 0
	if mode == ModeTunnel && len(desired) > 0 {
		l, err := netlink.LinkByName(cfg.device())
		if err != nil {
			return fmt.Errorf("set remote routes: find %s: %w", cfg.device(), err)
		}
		devIndex = l.Attrs().Index
	}

	for _, r := range desired {
		nr := &netlink.Route{
			Dst:      prefixNet(r.Dst),
			Src:      src,
			Protocol: RouteProtocol,
			Table:    unix.RT_TABLE_MAIN,
		}
		if r.Via.IsValid() {
			nr.Gw = r.Via.AsSlice()
		} else {
			nr.LinkIndex = devIndex
			nr.Scope = netlink.SCOPE_LINK
		}
		if err := netlink.RouteReplace(nr); err != nil {
			return fmt.Errorf("set route %v: %w", r.Dst, err)
		}
	}

	ours, err := ownRoutes()
	if err != nil {
		return err
	}
	dsts := make([]netip.Prefix, 0, len(ours))
	for _, r := range ours {
		if p, ok := netPrefix(r.Dst); ok {
			dsts = append(dsts, p)
		}
	}
	var errs []error
	for _, stale := range staleRoutes(dsts, desired) {
		for _, r := range ours {
			if p, ok := netPrefix(r.Dst); !ok || p != stale {
				continue
			}
			if err := netlink.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("delete route %v: %w", stale, err))
				continue
			}
			log.Debug("stale route removed", "dst", stale)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	log.Debug("remote routes set", "mode", mode, "count", len(desired))
	return nil
}

// ownRoutes lists the routes in the main table tagged RouteProtocol.
func ownRoutes() ([]netlink.Route, error) {
	filter := &netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN}
	rs, err := netlink.RouteListFiltered(unix.AF_INET, filter, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	return rs, nil
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}

func netPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a, bits), true
}
