// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/nori-net/nori/agent/policy"
)

// ruleSet describes n Cilium rules that all select the server (ingress)
// and, last, the one rule that lets the client in on allowPorts. The
// other n-1 rules are what a busy server accumulates, in eighths:
//
//	3/8 the client itself on another port (real entries for a live identity)
//	3/8 other peers by label on 443 (no such containers: selectors match nothing)
//	1/8 a /32 of 198.18.0.0/15 on 80 (CIDR identities and ipcache entries)
//	1/8 a deny of a /32 of 198.20.0.0/16, all ports (deny entries)
//
// The iptables anchor loads the same mix as FORWARD rules.
type ruleSet struct {
	n          int
	server     string // name=... label value of the server
	client     string
	allowPorts []int
	label      string // every rule's labels: bench=<label>
}

// ruleKind is which of the eighths rule i belongs to.
type ruleKind int

const (
	kindClientPort ruleKind = iota
	kindPeer
	kindCIDRAllow
	kindCIDRDeny
)

func kindOf(i int) ruleKind {
	switch i % 8 {
	case 0, 1, 2:
		return kindClientPort
	case 3, 4, 5:
		return kindPeer
	case 6:
		return kindCIDRAllow
	default:
		return kindCIDRDeny
	}
}

// otherPort is the port of filler rule i of kindClientPort: 10000 up,
// never one of the benchmark's own ports.
func otherPort(i int) int { return 10000 + i%50000 }

// fillerAddr is the address of filler rule i within net16 ("198.18"):
// one per block of eight rules, so addresses of one kind never repeat.
func fillerAddr(net16 string, i int) string {
	j := i / 8
	return fmt.Sprintf("%s.%d.%d", net16, (j/256)%256, j%256)
}

// Filler address ranges (RFC 2544's benchmarking range and beyond: no
// container or host uses them).
const (
	peerNet      = "198.19"
	cidrAllowNet = "198.18"
	cidrDenyNet  = "198.20"
)

// JSON renders the set as a Cilium policy file.
func (s ruleSet) JSON() []byte {
	type m = map[string]any
	sel := func(name string) m { return m{"matchLabels": m{"name": name}} }
	tcp := func(ports ...int) []m {
		var ps []m
		for _, p := range ports {
			ps = append(ps, m{"port": fmt.Sprint(p), "protocol": "TCP"})
		}
		return []m{{"ports": ps}}
	}
	labels := []m{{"key": "bench", "value": s.label}}
	rules := make([]m, 0, s.n)
	for i := 0; i < s.n-1; i++ {
		r := m{"labels": labels, "endpointSelector": sel(s.server)}
		switch kindOf(i) {
		case kindClientPort:
			r["ingress"] = []m{{"fromEndpoints": []m{sel(s.client)}, "toPorts": tcp(otherPort(i))}}
		case kindPeer:
			r["ingress"] = []m{{"fromEndpoints": []m{sel(fmt.Sprintf("peer-%d", i))}, "toPorts": tcp(443)}}
		case kindCIDRAllow:
			r["ingress"] = []m{{"fromCIDR": []string{fillerAddr(cidrAllowNet, i) + "/32"}, "toPorts": tcp(80)}}
		case kindCIDRDeny:
			r["ingressDeny"] = []m{{"fromCIDR": []string{fillerAddr(cidrDenyNet, i) + "/32"}}}
		}
		rules = append(rules, r)
	}
	if s.n > 0 {
		rules = append(rules, m{"labels": labels, "endpointSelector": sel(s.server),
			"ingress": []m{{"fromEndpoints": []m{sel(s.client)}, "toPorts": tcp(s.allowPorts...)}}})
	}
	out, err := json.Marshal(rules)
	if err != nil {
		panic(fmt.Sprintf("encode rule set: %v", err)) // maps of strings and ints always encode
	}
	return out
}

// iptablesRules renders the same mix as iptables-restore input for a
// FORWARD chain between client and server (both /32): n-1 rules the
// client's packets do not match, then the ACCEPTs of the client's flow in
// both directions, under a DROP policy. No conntrack shortcut, so every
// packet walks the chain, as in a firewall without an ESTABLISHED rule.
func iptablesRules(n int, client, server string, allowPorts []int) []byte {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	for i := 0; i < n-1; i++ {
		switch kindOf(i) {
		case kindClientPort:
			fmt.Fprintf(&b, "-A FORWARD -s %s/32 -d %s/32 -p tcp -m tcp --dport %d -j ACCEPT\n", client, server, otherPort(i))
		case kindPeer:
			// Other peers: addresses of no container here.
			fmt.Fprintf(&b, "-A FORWARD -s %s/32 -d %s/32 -p tcp -m tcp --dport 443 -j ACCEPT\n", fillerAddr(peerNet, i), server)
		case kindCIDRAllow:
			fmt.Fprintf(&b, "-A FORWARD -s %s/32 -d %s/32 -p tcp -m tcp --dport 80 -j ACCEPT\n", fillerAddr(cidrAllowNet, i), server)
		case kindCIDRDeny:
			fmt.Fprintf(&b, "-A FORWARD -s %s/32 -d %s/32 -j DROP\n", fillerAddr(cidrDenyNet, i), server)
		}
	}
	for _, p := range allowPorts {
		fmt.Fprintf(&b, "-A FORWARD -s %s/32 -d %s/32 -p tcp -m tcp --dport %d -j ACCEPT\n", client, server, p)
		fmt.Fprintf(&b, "-A FORWARD -s %s/32 -d %s/32 -p tcp -m tcp --sport %d -j ACCEPT\n", server, client, p)
	}
	b.WriteString("COMMIT\n")
	return []byte(b.String())
}

func TestRuleSet(t *testing.T) {
	for _, n := range []int{0, 1, 8, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := ruleSet{n: n, server: "srv", client: "cli", allowPorts: []int{5201, 5202}, label: "t"}
			if n == 0 {
				if got := string(s.JSON()); got != "[]" {
					t.Fatalf("0 rules: %s", got)
				}
				return
			}
			rules, err := policy.Parse(s.JSON())
			if err != nil {
				t.Fatal(err)
			}
			if len(rules) != n {
				t.Fatalf("%d rules, want %d", len(rules), n)
			}
			last := rules[n-1]
			if len(last.Ingress) != 1 || len(last.Ingress[0].ToPorts[0].Ports) != 2 {
				t.Fatalf("last rule does not allow the client on both ports: %+v", last)
			}
			ipt := string(iptablesRules(n, "192.168.79.2", "192.168.79.3", []int{5201, 5202}))
			if got := strings.Count(ipt, "\n-A FORWARD"); got != n-1+4 {
				t.Fatalf("%d iptables rules, want %d", got, n-1+4)
			}
		})
	}
	if a, b := fillerAddr(cidrAllowNet, 8*300), fillerAddr(cidrDenyNet, 7); a != "198.18.1.44" || b != "198.20.0.0" {
		t.Fatalf("fillerAddr: %s %s", a, b)
	}
}
