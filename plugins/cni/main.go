// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Command nori-cni is Nori's CNI network plugin. It parses the network
// configuration, delegates addresses to the IPAM plugin of the conflist
// and asks nori-agent, over its socket, to connect the container. It holds
// no datapath logic: the agent owns veths, routes and eBPF.
package main

import (
	"runtime"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"
)

func init() {
	// Keep the main goroutine on one OS thread, as every CNI plugin does,
	// so that nothing here ever runs in a borrowed network namespace.
	runtime.LockOSThread()
}

func main() {
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add:    cmdAdd,
		Del:    cmdDel,
		Check:  cmdCheck,
		GC:     cmdGC,
		Status: cmdStatus,
	}, version.All, "nori-cni: Nori CNI plugin, talks to nori-agent")
}
