// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package hostnet

import (
	"fmt"
	"net/netip"
	"os/exec"
	"sort"
	"strings"

	"github.com/nori-net/nori/agent/api"
)

// portsTable holds the published ports of endpoints whose runtime leaves
// publishing to the network (Docker's remote drivers); CNI runtimes run
// the portmap plugin instead.
const portsTable = "nori_ports"

// PublishPorts makes the node forward each endpoint's published ports to
// it: a packet for a node address on HostPort (any node address, or
// HostIP) is sent to the endpoint's ContainerPort. The table is replaced
// as a whole, so the call is idempotent and takes the full set.
func PublishPorts(byEndpoint map[netip.Addr][]api.PortMapping) error {
	var rules []string
	addrs := make([]netip.Addr, 0, len(byEndpoint))
	for a := range byEndpoint {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	for _, ep := range addrs {
		for _, pm := range byEndpoint[ep] {
			proto := strings.ToLower(pm.Protocol)
			if proto == "" {
				proto = "tcp"
			}
			if proto != "tcp" && proto != "udp" && proto != "sctp" {
				return fmt.Errorf("publish port %d of %s: protocol %q", pm.HostPort, ep, pm.Protocol)
			}
			if pm.HostPort <= 0 || pm.HostPort > 65535 || pm.ContainerPort <= 0 || pm.ContainerPort > 65535 {
				return fmt.Errorf("publish port %d → %s:%d: port out of range", pm.HostPort, ep, pm.ContainerPort)
			}
			match := ""
			if pm.HostIP != "" && pm.HostIP != "0.0.0.0" {
				hip, err := netip.ParseAddr(pm.HostIP)
				if err != nil {
					return fmt.Errorf("publish port %d of %s: host IP %q: %w", pm.HostPort, ep, pm.HostIP, err)
				}
				if !hip.Is4() {
					continue // IPv6 is not forwarded yet
				}
				match = "ip daddr " + hip.String() + " "
			}
			rules = append(rules, fmt.Sprintf("\t\t%s%s dport %d dnat to %s:%d comment \"nori: published by %s\"",
				match, proto, pm.HostPort, ep, pm.ContainerPort, ep))
		}
	}
	// With nothing published the table goes away, so nodes without
	// Docker containers pay no NAT hook for it.
	script := fmt.Sprintf("table ip %[1]s\ndelete table ip %[1]s\n", portsTable)
	if len(rules) > 0 {
		script += fmt.Sprintf(`table ip %[1]s {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local jump published
	}
	chain output {
		type nat hook output priority -100; policy accept;
		ip daddr != 127.0.0.0/8 fib daddr type local jump published
	}
	chain published {
%[2]s
	}
}
`, portsTable, strings.Join(rules, "\n"))
	}
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("install published ports: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
