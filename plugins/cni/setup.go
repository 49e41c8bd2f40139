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

// owner tags what nori-cni creates in the agent, so that a CNI GC never
// frees what the Docker driver made.
const owner = "cni"

// call is what every verb starts from.
type call struct {
	args   *skel.CmdArgs
	conf   *netconf.Conf
	cniArg *netconf.Args
	log    *slog.Logger
	agent  *api.Client
}

func setup(args *skel.CmdArgs, verb string) (*call, error) {
	conf, cerr := netconf.Load(args.StdinData)
	if cerr != nil {
		return nil, cerr
	}
	cniArg, cerr := netconf.ParseArgs(args.Args)
	if cerr != nil {
		return nil, cerr
	}
	level, _ := netconf.ParseLevel("logLevel", conf.LogLevel) // validated by Load
	log := pluginlog.New(level, "nori-cni", verb).With(
		"containerID", args.ContainerID, "ifName", args.IfName, "netns", args.Netns, "network", conf.Name)
	return &call{
		args:   args,
		conf:   conf,
		cniArg: cniArg,
		log:    log,
		agent:  api.NewClient(conf.Socket()),
	}, nil
}

func (c *call) attachment() api.Attachment {
	return api.Attachment{ContainerID: c.args.ContainerID, IfName: c.args.IfName}
}
