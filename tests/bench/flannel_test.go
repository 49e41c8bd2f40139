// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"fmt"
	"strings"

	"github.com/nori-net/nori/tests/harness"
)

// flannelMTU is what flannel's vxlan backend gives pods on a 1500 underlay.
const flannelMTU = "1450"

// flannelPair builds flannel's vxlan backend by hand on hosts (no agent
// runs there): per host a kernel VXLAN device flannel.1 (VNI 1, port 8472,
// nolearning, the host's /24 .0 on it), a bridge cni0 holding .1, and a
// container on cni0 via a veth at MTU 1450; per peer the three entries
// flanneld writes: an onlink route to the peer's /24 via its .0, a
// permanent neighbour for that .0 with the peer's flannel.1 MAC, and an
// FDB entry sending that MAC to the peer's underlay address. Hosts already
// forward (ip_forward=1). It prints the commands run on the first host.
func (b *bench) flannelPair(hosts []*harness.Host) variant {
	b.t.Helper()
	v := variant{name: "flannel-style", desc: "kernel VXLAN flannel.1 (VNI 1, :8472, nolearning) + bridge cni0, static route/neigh/FDB per peer, MTU 1450"}
	macs := make([]string, len(hosts))
	var shown []string
	record := func(i int, argv ...string) {
		b.t.Helper()
		if i == 0 {
			shown = append(shown, strings.Join(argv, " "))
		}
		inNetns(hosts[i].Netns, argv...).mustOutput(b)
	}
	for i, h := range hosts {
		n := i + 1
		ctr := fmt.Sprintf("%s-fl%d", b.ns, n)
		path := b.addNetns(ctr)
		record(i, "ip", "link", "add", "flannel.1", "type", "vxlan", "id", "1", "local", h.Underlay.String(), "dev", "eth0", "dstport", "8472", "nolearning")
		record(i, "ip", "link", "set", "flannel.1", "mtu", flannelMTU, "up")
		record(i, "ip", "addr", "add", fmt.Sprintf("10.244.%d.0/32", n), "dev", "flannel.1")
		record(i, "ip", "link", "add", "cni0", "mtu", flannelMTU, "type", "bridge")
		record(i, "ip", "addr", "add", fmt.Sprintf("10.244.%d.1/24", n), "dev", "cni0")
		record(i, "ip", "link", "set", "cni0", "up")
		record(i, "ip", "link", "add", "veth0", "mtu", flannelMTU, "type", "veth", "peer", "name", "eth0", "netns", path)
		record(i, "ip", "link", "set", "veth0", "master", "cni0", "up")
		b.ipCmd("-n", ctr, "link", "set", "eth0", "mtu", flannelMTU, "up")
		b.ipCmd("-n", ctr, "addr", "add", fmt.Sprintf("10.244.%d.2/24", n), "dev", "eth0")
		b.ipCmd("-n", ctr, "route", "add", "default", "via", fmt.Sprintf("10.244.%d.1", n))
		macs[i] = b.mac(h.NetnsName, "flannel.1")
		if i == 0 {
			v.client = path
		} else {
			v.server, v.serverIP = path, fmt.Sprintf("10.244.%d.2", n)
		}
	}
	for i := range hosts {
		for j, peer := range hosts {
			if i == j {
				continue
			}
			gw := fmt.Sprintf("10.244.%d.0", j+1)
			record(i, "ip", "route", "add", fmt.Sprintf("10.244.%d.0/24", j+1), "via", gw, "dev", "flannel.1", "onlink")
			record(i, "ip", "neigh", "add", gw, "lladdr", macs[j], "dev", "flannel.1", "nud", "permanent")
			record(i, "bridge", "fdb", "append", macs[j], "dev", "flannel.1", "dst", peer.Underlay.String())
		}
	}
	fmt.Fprintf(b.out, "flannel-style setup on %s (in its netns; container side: eth0 10.244.1.2/24 mtu %s, default via 10.244.1.1):\n    %s\n",
		hosts[0].Name, flannelMTU, strings.Join(shown, "\n    "))
	v.mtu = b.mtu(v.client)
	return v
}

// underlayPair is the limit: iperf3 and rr straight between two host
// namespaces' underlay addresses (veth into the switch bridge and out).
func (b *bench) underlayPair(a, z *harness.Host) variant {
	v := variant{name: "bare underlay", desc: "host netns to host netns over the underlay veth + switch bridge, no overlay",
		client: a.Netns, server: z.Netns, serverIP: z.Underlay.String()}
	v.mtu = b.mtu(v.client)
	return v
}
