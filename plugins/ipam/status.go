// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"context"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/nori-net/nori/plugins/internal/cnierr"
)

// cmdStatus is ready when the agent is (code 50 otherwise, see
// cnierr.Status).
func cmdStatus(args *skel.CmdArgs) error {
	c, err := setup(args, "STATUS")
	if err != nil {
		return err
	}
	if err := c.agent.Healthz(context.Background()); err != nil {
		return cnierr.Status(cnierr.FromAgent("healthz", c.conf.Socket(), err))
	}
	return nil
}
