// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"context"
	"os"

	"github.com/containernetworking/cni/pkg/skel"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/internal/cnierr"
	"github.com/nori-net/nori/plugins/internal/ipamexec"
)

func cmdAdd(args *skel.CmdArgs) error {
	c, err := setup(args, "ADD")
	if err != nil {
		return err
	}
	ctx := context.Background()
	ipamType := c.conf.IPAM.Type

	ipamRes, err := ipamexec.Add(ctx, ipamType, args.StdinData)
	if err != nil {
		return err
	}
	// Give the address back when anything below fails, or it leaks: the
	// runtime sends no DEL for an ADD that failed.
	success := false
	defer func() {
		if success {
			return
		}
		if err := ipamexec.Del(ctx, ipamType, args.StdinData); err != nil {
			c.log.Warn("release address after failed ADD", "ipam", ipamType, "error", err)
		}
	}()

	ep, err := c.agent.EndpointCreate(ctx, endpointRequest(c, ipamRes))
	if err != nil {
		return cnierr.FromAgent("create endpoint", c.conf.Socket(), err)
	}
	res, err := buildResult(ep, ipamRes, c.conf.DNS, args.IfName, args.Netns, c.conf.CNIVersion)
	if err == nil {
		err = res.PrintTo(os.Stdout)
	}
	if err != nil {
		c.deleteEndpoint(ctx)
		return err
	}
	c.log.Debug("endpoint created", "id", ep.ID, "hostIf", ep.Host.Name, "ips", ep.IPs)
	success = true
	return nil
}

func endpointRequest(c *call, ipamRes *types100.Result) *api.EndpointRequest {
	req := &api.EndpointRequest{
		Attachment:   c.attachment(),
		Netns:        c.args.Netns,
		Network:      c.conf.Name,
		MTU:          c.conf.MTU,
		Args:         c.cniArg.Map,
		PortMappings: c.conf.RuntimeConfig.PortMappings,
	}
	for _, ip := range ipamRes.IPs {
		cfg := api.IPConfig{Address: ip.Address.String()}
		if ip.Gateway != nil {
			cfg.Gateway = ip.Gateway.String()
		}
		req.IPs = append(req.IPs, cfg)
	}
	return req
}

// deleteEndpoint undoes EndpointCreate when the result cannot be handed
// to the runtime, which then never sends a DEL for it.
func (c *call) deleteEndpoint(ctx context.Context) {
	err := c.agent.EndpointDelete(ctx, &api.EndpointDeleteRequest{Attachment: c.attachment(), Netns: c.args.Netns})
	if err != nil {
		c.log.Warn("delete endpoint after failed ADD", "error", err)
	}
}
