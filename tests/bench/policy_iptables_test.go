// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nori-net/nori/tests/harness"
)

// policyIptablesPairs builds the anchor: per rule count, a bare veth pair
// routed by the kernel in a node netns (as in the same-host section)
// whose FORWARD chain holds n-1 rules the benchmark's packets do not
// match, then the ACCEPTs of its flows, policy DROP. Debian's iptables
// (nf_tables backend) loads them with iptables-restore.
func (b *bench) policyIptablesPairs() []polVariant {
	b.t.Helper()
	fmt.Fprintf(b.out, "iptables: %s\n", firstLine("iptables", "--version"))
	var vs []polVariant
	for _, n := range iptablesRuleCounts {
		tag := fmt.Sprintf("ipt%d", n)
		v := polVariant{variant: b.bareVeth(tag, 0), rules: n}
		v.name = "iptables, " + rulesWord(n)
		v.desc = fmt.Sprintf("bare veth pair, kernel forwarding; FORWARD: %s non-matching rules, then ACCEPT (policy DROP, no conntrack rule)", thousands(n))
		node := "/run/netns/" + b.ns + "-" + tag + "node"
		client := "192.168.79.2" // bareVeth's addresses
		file := filepath.Join(b.tools, tag+".rules")
		if err := os.WriteFile(file, iptablesRules(n, client, v.serverIP, polPorts), 0o644); err != nil {
			b.t.Fatal(err)
		}
		start := time.Now()
		inNetns(node, "iptables-restore", file).mustOutput(b)
		took := time.Since(start)
		count := strings.Count(inNetns(node, "iptables", "-S", "FORWARD").mustOutput(b), "-A FORWARD")
		fmt.Fprintf(b.out, "%s: %d FORWARD rules loaded with iptables-restore in %s\n", v.name, count, took.Round(time.Millisecond))
		b.waitReach(v.client, v.serverIP+":"+polProbePort, harness.Blocked, 10*time.Second)
		b.waitReach(v.client, v.serverIP+":"+iperfPort, harness.Refused, 10*time.Second)
		vs = append(vs, v)
	}
	return vs
}
