// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"context"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/internal/cnierr"
	"github.com/nori-net/nori/plugins/internal/ipamexec"
)

// cmdGC removes the endpoints of this network that the runtime no longer
// lists, then forwards the GC to the IPAM plugin.
func cmdGC(args *skel.CmdArgs) error {
	c, err := setup(args, "GC")
	if err != nil {
		return err
	}
	if !c.conf.GC.Present() {
		c.log.Debug("GC without cni.dev/valid-attachments; nothing freed")
		return nil
	}
	ctx := context.Background()
	res, err := c.agent.EndpointGC(ctx, &api.GCRequest{
		Owner:   owner,
		Network: c.conf.Name,
		Valid:   c.conf.GC.Attachments(),
	})
	if err != nil {
		return cnierr.FromAgent("garbage-collect endpoints", c.conf.Socket(), err)
	}
	if len(res.Released) > 0 {
		c.log.Info("removed stale endpoints", "released", res.Released)
	}
	return ipamexec.GC(ctx, c.log, c.conf.IPAM.Type, args.StdinData)
}
