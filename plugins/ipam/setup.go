// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"log/slog"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/internal/netconf"
	"github.com/nori-net/nori/plugins/internal/pluginlog"
)

// owner tags allocations made through CNI, so that a CNI GC never frees
// the Docker driver's addresses.
const owner = "cni"

type call struct {
	args   *skel.CmdArgs
	conf   *netconf.IPAMConf
	cniArg *netconf.Args
	log    *slog.Logger
	agent  *api.Client
}

func setup(args *skel.CmdArgs, verb string) (*call, error) {
	conf, cerr := netconf.LoadIPAM(args.StdinData)
	if cerr != nil {
		return nil, cerr
	}
	cniArg, cerr := netconf.ParseArgs(args.Args)
	if cerr != nil {
		return nil, cerr
	}
	level, _ := netconf.ParseLevel(conf.Level()) // validated by LoadIPAM
	log := pluginlog.New(level, "nori-ipam", verb).With(
		"containerID", args.ContainerID, "ifName", args.IfName, "network", conf.Name)
	return &call{args: args, conf: conf, cniArg: cniArg, log: log, agent: api.NewClient(conf.Socket())}, nil
}

func (c *call) attachment() api.Attachment {
	return api.Attachment{ContainerID: c.args.ContainerID, IfName: c.args.IfName}
}
