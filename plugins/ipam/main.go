// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Command nori-ipam is Nori's CNI IPAM plugin. It hands out addresses of
// the node's CIDR through nori-agent, so allocations are persistent and
// idempotent per (container ID, ifname), and it works under nori-cni as
// well as under other plugins such as bridge.
package main

import (
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"
)

func main() {
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add:    cmdAdd,
		Del:    cmdDel,
		Check:  cmdCheck,
		GC:     cmdGC,
		Status: cmdStatus,
	}, version.All, "nori-ipam: Nori IPAM plugin, allocates through nori-agent")
}
