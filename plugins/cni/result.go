// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"fmt"
	"net"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/nori-net/nori/agent/api"
)

// Indexes into the result's interfaces. go-cni and containerd look the
// container's address up through ips[].interface, so the container
// interface must be listed and referenced (research/apis.md §a "Result").
const (
	hostIfIndex      = 0
	containerIfIndex = 1
)

// buildResult turns what the agent set up into the ADD result, in the
// requested cniVersion. It is pure so that every version can be tested.
//
// Addresses are the agent's (a /32 on the container side), not IPAM's
// (which carry the node CIDR's prefix): the result must describe the
// interface as configured. Fields that only exist from 1.1.0 on
// (interface and route MTU) are left out below it.
func buildResult(ep *api.EndpointResult, ipamRes *types100.Result, dns types.DNS, ifName, netns, cniVersion string) (types.Result, error) {
	v11, err := version.GreaterThanOrEqualTo(cniVersion, "1.1.0")
	if err != nil {
		return nil, fmt.Errorf("compare cniVersion %q: %w", cniVersion, err)
	}
	res := &types100.Result{CNIVersion: types100.ImplementedSpecVersion}

	ctrName := ep.Container.Name
	if ctrName == "" {
		ctrName = ifName
	}
	host := &types100.Interface{Name: ep.Host.Name, Mac: ep.Host.MAC}
	ctr := &types100.Interface{Name: ctrName, Mac: ep.Container.MAC, Sandbox: netns}
	if v11 {
		host.Mtu = ep.Host.MTU
		ctr.Mtu = ep.Container.MTU
	}
	res.Interfaces = []*types100.Interface{hostIfIndex: host, containerIfIndex: ctr}

	if len(ep.IPs) == 0 {
		return nil, fmt.Errorf("agent created endpoint %d without an address", ep.ID)
	}
	for _, ip := range ep.IPs {
		cfg, err := ipConfig(ip, ep.Gateway)
		if err != nil {
			return nil, err
		}
		res.IPs = append(res.IPs, cfg)
	}

	for _, r := range ep.Routes {
		route, err := routeOf(r, v11)
		if err != nil {
			return nil, err
		}
		res.Routes = append(res.Routes, route)
	}
	if len(ep.Routes) == 0 && ep.Gateway != "" {
		gw := net.ParseIP(ep.Gateway)
		if gw == nil {
			return nil, fmt.Errorf("agent reported gateway %q, not an IP address", ep.Gateway)
		}
		res.Routes = append(res.Routes, &types.Route{Dst: defaultDst(gw), GW: gw})
	}

	// The conflist's dns wins over the IPAM plugin's, as in the reference
	// plugins.
	res.DNS = dns
	if res.DNS.IsEmpty() && ipamRes != nil {
		res.DNS = ipamRes.DNS
	}
	return res.GetAsVersion(cniVersion)
}

func ipConfig(ip api.IPConfig, routerGW string) (*types100.IPConfig, error) {
	addr, err := cidr(ip.Address)
	if err != nil {
		return nil, fmt.Errorf("agent reported address %q: %w", ip.Address, err)
	}
	gwStr := ip.Gateway
	if gwStr == "" {
		gwStr = routerGW
	}
	cfg := &types100.IPConfig{Interface: types100.Int(containerIfIndex), Address: addr}
	if gwStr != "" {
		if cfg.Gateway = net.ParseIP(gwStr); cfg.Gateway == nil {
			return nil, fmt.Errorf("agent reported gateway %q, not an IP address", gwStr)
		}
	}
	return cfg, nil
}

func routeOf(r api.Route, withMTU bool) (*types.Route, error) {
	dst, err := cidr(r.Dst)
	if err != nil {
		return nil, fmt.Errorf("agent reported route %q: %w", r.Dst, err)
	}
	route := &types.Route{Dst: dst}
	if r.GW != "" {
		if route.GW = net.ParseIP(r.GW); route.GW == nil {
			return nil, fmt.Errorf("agent reported route gateway %q, not an IP address", r.GW)
		}
	}
	if withMTU {
		route.MTU = r.MTU
	}
	return route, nil
}

// cidr parses "a.b.c.d/n" keeping the host bits (net.ParseCIDR's IPNet
// masks them away).
func cidr(s string) (net.IPNet, error) {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		return net.IPNet{}, err
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return net.IPNet{IP: ip, Mask: n.Mask}, nil
}

func defaultDst(gw net.IP) net.IPNet {
	if gw.To4() != nil {
		return net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
	}
	return net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
}
