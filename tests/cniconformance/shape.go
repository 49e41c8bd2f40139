// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cniconformance

import (
	"fmt"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// CheckResult asserts the ADD result shape runtimes depend on (apis.md
// §a): the result is in the requested version; it lists the host veth
// (no sandbox) and the container interface ifName with sandbox = netns;
// every address points at the container interface by index, is a /32
// (IPv4) and has a gateway; a default route exists. It returns the
// container's addresses.
func CheckResult(res types.Result, version, ifName, netns string) ([]string, error) {
	if res == nil {
		return nil, fmt.Errorf("no result")
	}
	if res.Version() != version {
		return nil, fmt.Errorf("result version %q, want %q", res.Version(), version)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("convert result: %w", err)
	}
	ctr, host := -1, -1
	for i, iface := range r.Interfaces {
		switch {
		case iface.Sandbox == "" && host < 0:
			host = i
		case iface.Sandbox != "" && iface.Name == ifName:
			if iface.Sandbox != netns {
				return nil, fmt.Errorf("interface %s has sandbox %q, want %q", ifName, iface.Sandbox, netns)
			}
			ctr = i
		}
	}
	if ctr < 0 || host < 0 {
		return nil, fmt.Errorf("interfaces %v: want the host veth (no sandbox) and %s (sandbox %s)", r.Interfaces, ifName, netns)
	}
	if len(r.IPs) == 0 {
		return nil, fmt.Errorf("result has no address")
	}
	var addrs []string
	for _, ip := range r.IPs {
		if ip.Interface == nil || *ip.Interface != ctr {
			return nil, fmt.Errorf("address %s: interface index %v, want %d (%s)", ip.Address.String(), ip.Interface, ctr, ifName)
		}
		if ones, bits := ip.Address.Mask.Size(); ip.Address.IP.To4() != nil && (ones != 32 || bits != 32) {
			return nil, fmt.Errorf("address %s: want a /32", ip.Address.String())
		}
		if ip.Gateway == nil {
			return nil, fmt.Errorf("address %s has no gateway", ip.Address.String())
		}
		addrs = append(addrs, ip.Address.IP.String())
	}
	hasDefault := false
	for _, rt := range r.Routes {
		if ones, _ := rt.Dst.Mask.Size(); ones == 0 {
			hasDefault = true
		}
	}
	if !hasDefault {
		return nil, fmt.Errorf("routes %v: no default route", r.Routes)
	}
	return addrs, nil
}
