// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"context"
	"os"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/internal/cnierr"
	"github.com/nori-net/nori/plugins/internal/netconf"
)

func cmdAdd(args *skel.CmdArgs) error {
	c, err := setup(args, "ADD")
	if err != nil {
		return err
	}
	alloc, err := c.agent.IPAMAllocate(context.Background(), &api.IPAMRequest{
		Attachment:   c.attachment(),
		Network:      c.conf.Name,
		RequestedIPs: netconf.RequestedIPs(c.conf.RuntimeConfig, c.cniArg),
		Owner:        owner,
	})
	if err != nil {
		return cnierr.FromAgent("allocate address", c.conf.Socket(), err)
	}
	res, err := buildResult(alloc, c.conf.CNIVersion)
	if err != nil {
		return err
	}
	c.log.Debug("address allocated", "ips", alloc.IPs)
	return res.PrintTo(os.Stdout)
}
