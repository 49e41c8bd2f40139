// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"context"
	"fmt"
	"net"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/internal/cnierr"
)

// cmdCheck verifies that the attachment still holds its allocation and,
// when the runtime sent prevResult, that it holds those addresses.
func cmdCheck(args *skel.CmdArgs) error {
	c, err := setup(args, "CHECK")
	if err != nil {
		return err
	}
	alloc, err := c.agent.IPAMAllocate(context.Background(), &api.IPAMRequest{
		Attachment: c.attachment(),
		Network:    c.conf.Name,
		Owner:      owner,
		CheckOnly:  true,
	})
	if api.IsCode(err, api.CodeNotFound) {
		return types.NewError(types.ErrInternal,
			fmt.Sprintf("no address allocated for container %s interface %s", args.ContainerID, args.IfName), "")
	}
	if err != nil {
		return cnierr.FromAgent("check allocation", c.conf.Socket(), err)
	}
	prev, err := c.conf.PrevResult()
	if err != nil || prev == nil {
		return err
	}
	res, err := types100.NewResultFromResult(prev)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, "convert prevResult: "+err.Error(), "")
	}
	return compare(res, alloc)
}

// compare says which prevResult address the agent does not hold. Only
// addresses are compared: the calling plugin may have changed prefixes.
func compare(prev *types100.Result, alloc *api.IPAMResult) error {
	held := map[string]bool{}
	for _, ip := range alloc.IPs {
		if a, _, err := net.ParseCIDR(ip.Address); err == nil {
			held[a.String()] = true
		}
	}
	for _, ip := range prev.IPs {
		if !held[ip.Address.IP.String()] {
			return types.NewError(types.ErrInternal,
				fmt.Sprintf("address %s of prevResult is not allocated to this container", ip.Address.IP), "")
		}
	}
	return nil
}
