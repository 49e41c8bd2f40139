// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"context"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/internal/cnierr"
)

// cmdGC frees this network's CNI allocations that the runtime no longer
// lists.
func cmdGC(args *skel.CmdArgs) error {
	c, err := setup(args, "GC")
	if err != nil {
		return err
	}
	if !c.conf.GC.Present() {
		c.log.Debug("GC without cni.dev/valid-attachments; nothing freed")
		return nil
	}
	res, err := c.agent.IPAMGC(context.Background(), &api.GCRequest{
		Owner:   owner,
		Network: c.conf.Name,
		Valid:   c.conf.GC.Attachments(),
	})
	if err != nil {
		return cnierr.FromAgent("garbage-collect addresses", c.conf.Socket(), err)
	}
	if len(res.Released) > 0 {
		c.log.Info("released stale allocations", "released", res.Released)
	}
	return nil
}
