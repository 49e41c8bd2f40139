// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"context"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/internal/cnierr"
)

// cmdDel releases the attachment's addresses. Releasing nothing succeeds;
// an unreachable agent gives 11, which nori-cni tolerates once the
// container's netns is gone (see plugins/cni/del.go).
func cmdDel(args *skel.CmdArgs) error {
	c, err := setup(args, "DEL")
	if err != nil {
		return err
	}
	err = c.agent.IPAMRelease(context.Background(), &api.IPAMReleaseRequest{Attachment: c.attachment()})
	if err != nil && !api.IsCode(err, api.CodeNotFound) {
		return cnierr.FromAgent("release address", c.conf.Socket(), err)
	}
	return nil
}
