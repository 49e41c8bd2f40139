// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/nori-net/nori/tests/harness"
)

// variant is a pair of container namespaces to measure between: the client
// runs in one, the server in the other.
type variant struct {
	name     string
	desc     string
	client   string // netns path
	server   string // netns path
	serverIP string
	mtu      string // of the client's eth0
}

// cniPair makes two containers on a CNI network, as a runtime would.
func (b *bench) cniPair(n cniNetwork, tag, desc string) variant {
	b.t.Helper()
	v := variant{name: n.name, desc: desc}
	v.client, _ = b.cniContainer(b.host, n, fmt.Sprintf("%s-%sa", b.ns, tag))
	v.server, v.serverIP = b.cniContainer(b.host, n, fmt.Sprintf("%s-%sb", b.ns, tag))
	v.mtu = b.mtu(v.client)
	return v
}

// cniContainer creates netns nsName and attaches it to network n through
// libcni run in host h's netns; t.Cleanup detaches it. It returns the
// netns path and the container's IPv4 address.
func (b *bench) cniContainer(h *harness.Host, n cniNetwork, nsName string) (string, string) {
	b.t.Helper()
	path := b.addNetns(nsName)
	b.cniDelOnCleanup(h, n, nsName, path)
	return path, inNetns(h.Netns, b.cniArgv(h, "add", n, nsName, path)...).mustOutput(b)
}

// cniArgv is the cnidriver command line for one ADD or DEL (verb) of
// container id in netns path, on host h.
func (b *bench) cniArgv(h *harness.Host, verb string, n cniNetwork, id, path string, extra ...string) []string {
	argv := []string{b.tool("cnidriver"), verb, "-cni-path", h.CNIBinDir, "-cache-dir", filepath.Join(h.Dir, "cni-cache"), "-id", id, "-netns", path}
	return append(append(argv, extra...), n.file)
}

// cniDelOnCleanup registers the DEL of container id (netns path) on host h.
func (b *bench) cniDelOnCleanup(h *harness.Host, n cniNetwork, id, path string) {
	del := inNetns(h.Netns, b.cniArgv(h, "del", n, id, path)...)
	b.t.Cleanup(func() {
		// Not b.ctx: cleanup also runs after Ctrl-C.
		if _, err := del.output(context.Background()); err != nil {
			if b.ctx.Err() != nil {
				// Ctrl-C reached the agent too; removing the host
				// netns and its directory takes the endpoint along.
				b.t.Logf("cleanup after interrupt: %s: left to host removal", id)
				return
			}
			b.t.Errorf("cleanup: %v", err)
		}
	})
}

// bareVeth builds the limit: two container netns, each with a veth into a
// node netns that routes between them with plain kernel forwarding (/32
// routes, static neighbours both ways, no BPF, no bridge, no iptables rule).
// mtu 0 keeps the veth default (1500). tag keeps two such setups apart.
func (b *bench) bareVeth(tag string, mtu int) variant {
	b.t.Helper()
	node := b.ns + "-" + tag + "node"
	b.addNetns(node)
	inNetns("/run/netns/"+node, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1").mustOutput(b)
	v := variant{name: "bare veth", desc: "veth pairs into a node netns, kernel forwarding (ip_forward=1), no BPF"}
	var mtuArgs []string
	if mtu != 0 {
		v.name = fmt.Sprintf("bare veth mtu %d", mtu)
		v.desc += ", Nori's MTU"
		mtuArgs = []string{"mtu", fmt.Sprint(mtu)}
	}
	for i, side := range []string{"a", "b"} {
		ctr := fmt.Sprintf("%s-%s%s", b.ns, tag, side)
		path := b.addNetns(ctr)
		ip := fmt.Sprintf("192.168.79.%d", i+2)
		host := "vh" + side
		b.ipCmd("-n", node, "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ctr)
		if mtuArgs != nil {
			b.ipCmd(append([]string{"-n", node, "link", "set", host}, mtuArgs...)...)
			b.ipCmd(append([]string{"-n", ctr, "link", "set", "eth0"}, mtuArgs...)...)
		}
		b.ipCmd("-n", node, "link", "set", host, "up")
		b.ipCmd("-n", ctr, "link", "set", "eth0", "up")
		b.ipCmd("-n", ctr, "addr", "add", ip+"/32", "dev", "eth0")
		b.ipCmd("-n", ctr, "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
		b.ipCmd("-n", ctr, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
		b.ipCmd("-n", ctr, "neigh", "add", "169.254.1.1", "lladdr", b.mac(node, host), "dev", "eth0", "nud", "permanent")
		b.ipCmd("-n", node, "route", "add", ip+"/32", "dev", host)
		b.ipCmd("-n", node, "neigh", "add", ip, "lladdr", b.mac(ctr, "eth0"), "dev", host, "nud", "permanent")
		if i == 0 {
			v.client = path
		} else {
			v.server, v.serverIP = path, ip
		}
	}
	v.mtu = b.mtu(v.client)
	return v
}

func (b *bench) ipCmd(args ...string) string {
	b.t.Helper()
	return inNetns("", append([]string{"ip"}, args...)...).mustOutput(b)
}

type ipLink struct {
	Address string `json:"address"`
	MTU     int    `json:"mtu"`
}

func (b *bench) link(netnsName, dev string) ipLink {
	b.t.Helper()
	out := b.ipCmd("-n", netnsName, "-j", "link", "show", "dev", dev)
	var links []ipLink
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		b.t.Fatalf("parse ip link of %s in %s: %v: %s", dev, netnsName, err, out)
	}
	return links[0]
}

func (b *bench) mac(netnsName, dev string) string { return b.link(netnsName, dev).Address }

func (b *bench) mtu(netnsPath string) string {
	return fmt.Sprint(b.link(strings.TrimPrefix(netnsPath, "/run/netns/"), "eth0").MTU)
}
