// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"context"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/nori-net/nori/plugins/internal/cnierr"
	"github.com/nori-net/nori/plugins/internal/ipamexec"
)

// cmdStatus reports whether ADD can be served: the agent answers healthz,
// and the IPAM plugin, asked in turn as the spec requires, is ready too.
func cmdStatus(args *skel.CmdArgs) error {
	c, err := setup(args, "STATUS")
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := c.agent.Healthz(ctx); err != nil {
		return cnierr.Status(cnierr.FromAgent("healthz", c.conf.Socket(), err))
	}
	return ipamexec.Status(ctx, c.log, c.conf.IPAM.Type, args.StdinData)
}
