// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"fmt"
	"net"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/nori-net/nori/agent/api"
)

// buildResult is the IPAM result for an allocation, in cniVersion: ips
// without an interface index (the calling plugin sets it) and routes.
// Addresses keep the node CIDR's prefix length, which bridge-like plugins
// need; nori-cni configures them as /32 anyway.
func buildResult(alloc *api.IPAMResult, cniVersion string) (types.Result, error) {
	if len(alloc.IPs) == 0 {
		return nil, types.NewError(types.ErrInternal, "nori-agent allocated no address", "")
	}
	res := &types100.Result{CNIVersion: types100.ImplementedSpecVersion}
	for _, ip := range alloc.IPs {
		addr, err := types.ParseCIDR(ip.Address)
		if err != nil {
			return nil, fmt.Errorf("agent reported address %q: %w", ip.Address, err)
		}
		cfg := &types100.IPConfig{Address: *addr}
		if ip.Gateway != "" {
			if cfg.Gateway = net.ParseIP(ip.Gateway); cfg.Gateway == nil {
				return nil, fmt.Errorf("agent reported gateway %q, not an IP address", ip.Gateway)
			}
		}
		res.IPs = append(res.IPs, cfg)
	}
	for _, r := range alloc.Routes {
		dst, err := types.ParseCIDR(r.Dst)
		if err != nil {
			return nil, fmt.Errorf("agent reported route %q: %w", r.Dst, err)
		}
		route := &types.Route{Dst: *dst}
		if r.GW != "" {
			if route.GW = net.ParseIP(r.GW); route.GW == nil {
				return nil, fmt.Errorf("agent reported route gateway %q, not an IP address", r.GW)
			}
		}
		res.Routes = append(res.Routes, route)
	}
	return res.GetAsVersion(cniVersion)
}
