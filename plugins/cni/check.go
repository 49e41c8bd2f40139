// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"context"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/internal/cnierr"
	"github.com/nori-net/nori/plugins/internal/ipamexec"
)

// cmdCheck asks the agent to verify the endpoint against the runtime's
// prevResult, then lets the IPAM plugin verify its allocation. An agent
// that is down gives 11, so a runtime does not take it for a broken
// container.
func cmdCheck(args *skel.CmdArgs) error {
	c, err := setup(args, "CHECK")
	if err != nil {
		return err
	}
	prev, err := c.conf.PrevResult()
	if err != nil {
		return err
	}
	if prev == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, `missing "prevResult": CHECK needs the ADD result`, "")
	}
	res, err := types100.NewResultFromResult(prev)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, "convert prevResult: "+err.Error(), "")
	}
	ctx := context.Background()
	err = c.agent.EndpointCheck(ctx, &api.EndpointCheckRequest{
		Attachment: c.attachment(),
		Netns:      args.Netns,
		IPs:        containerIPs(res, args.IfName),
	})
	if err != nil {
		return cnierr.FromAgent("check endpoint", c.conf.Socket(), err)
	}
	return ipamexec.Check(ctx, c.conf.IPAM.Type, args.StdinData)
}

// containerIPs picks the prevResult addresses of the container interface
// ifName; addresses without an interface index count as its (go-cni
// reads them that way).
func containerIPs(res *types100.Result, ifName string) []api.IPConfig {
	var out []api.IPConfig
	for _, ip := range res.IPs {
		if ip.Interface != nil {
			i := *ip.Interface
			if i < 0 || i >= len(res.Interfaces) || res.Interfaces[i].Sandbox == "" || res.Interfaces[i].Name != ifName {
				continue
			}
		}
		cfg := api.IPConfig{Address: ip.Address.String()}
		if ip.Gateway != nil {
			cfg.Gateway = ip.Gateway.String()
		}
		out = append(out, cfg)
	}
	return out
}
