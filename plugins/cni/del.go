// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"context"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/internal/cnierr"
	"github.com/nori-net/nori/plugins/internal/ipamexec"
)

// cmdDel disconnects a container. DEL must be idempotent and succeed when
// the netns is gone or CNI_NETNS is empty (nerdctl's postStop hook).
//
// Like cilium-cni, DEL returns an error only when retrying can fix it AND
// nothing else would clean up what stays behind; runtimes either retry a
// failed DEL forever (CRI) or just log it (nerdctl, podman):
//
//   - Agent unreachable or not ready, netns still alive: code 11, and the
//     address is NOT released. The container's veth still exists and still
//     carries the address; releasing it (host-local) would let the next
//     container get an address that is still in use. A retried DEL does both.
//   - Agent unreachable or not ready, netns gone or empty: success after
//     the IPAM DEL. The veth died with the netns, so nothing in the kernel
//     outlives it; what is left is the agent's own record (endpoint, map
//     entries, a nori-ipam allocation), which the agent drops itself when
//     it restores endpoints on start and on GC. nori-ipam's "try again
//     later" is tolerated here for the same reason; host-local needs no
//     agent and frees its file.
//   - The agent answers with any other error: logged, DEL goes on. Retrying
//     would get the same answer.
//   - The IPAM plugin fails otherwise (e.g. host-local cannot write its
//     store): returned, as the reference plugins do.
func cmdDel(args *skel.CmdArgs) error {
	c, err := setup(args, "DEL")
	if err != nil {
		return err
	}
	ctx := context.Background()

	agentDown := false
	err = c.agent.EndpointDelete(ctx, &api.EndpointDeleteRequest{Attachment: c.attachment(), Netns: args.Netns})
	if err != nil {
		mapped := cnierr.FromAgent("delete endpoint", c.conf.Socket(), err)
		switch {
		case cnierr.IsRetryable(mapped) && netnsAlive(args.Netns):
			return mapped
		case cnierr.IsRetryable(mapped):
			agentDown = true
			c.log.Warn("nori-agent unavailable; container netns is gone, the agent cleans up its record when it is back", "error", err)
		case api.IsCode(err, api.CodeNotFound):
		default:
			c.log.Warn("agent could not delete endpoint; continuing", "error", err)
		}
	}

	err = ipamexec.Del(ctx, c.conf.IPAM.Type, args.StdinData)
	var te *types.Error
	if err != nil && cnierr.AsTypes(err, &te) && cnierr.IsRetryable(te) && (agentDown || !netnsAlive(args.Netns)) {
		c.log.Warn("ipam plugin unavailable; its allocation is reclaimed by the agent", "ipam", c.conf.IPAM.Type, "error", err)
		return nil
	}
	return err
}
