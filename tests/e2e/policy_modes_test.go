// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/tests/harness"
)

// testAlwaysMode: --enable-policy=always denies everything without rules;
// rules in both directions let a connection (and its replies, ICMP too)
// through.
func (e *policyEnv) testAlwaysMode(t *testing.T) {
	e.agentsAlive(t)
	reset := true
	t.Cleanup(func() {
		if reset {
			e.resetPolicy(t)
		}
	})
	app1, app2 := e.ctr(t, "app1@h4"), e.ctr(t, "app2@h4")
	for _, p := range []*peer{app1, app2} {
		if ep := e.mustEndpoint(t, p); !ep.PolicyIngress || !ep.PolicyEgress {
			t.Errorf("%s: --enable-policy=always without rules: want ingress and egress enforced: %+v", p, ep)
		}
	}
	e.check(t, []reach{
		{"app1@h4", "app2@h4", port443, harness.Blocked},
		{"app2@h4", "app1@h4", port8080, harness.Blocked},
	})
	e.importJSON(t, e.h["h3"], `[
  {"labels": [{"key": "name", "value": "e2e-always"}],
   "endpointSelector": {"matchLabels": {"name": "app1"}},
   "egress": [{"toEndpoints": [{"matchLabels": {"name": "app2"}}], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}]},
  {"labels": [{"key": "name", "value": "e2e-always"}],
   "endpointSelector": {"matchLabels": {"name": "app2"}},
   "ingress": [{"fromEndpoints": [{"matchLabels": {"name": "app1"}}], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}]}
]`)
	// app1's ingress and app2's egress allow nothing: the echo comes
	// back only as the reply of an allowed connection (conntrack).
	took := expectWithin(t, app1, app2, port443, harness.Open, policyDeadline, fastProbe)
	t.Logf("always mode: app1 → app2:443 with replies allowed %s after import", took.Round(10*time.Millisecond))
	e.check(t, []reach{
		{"app1@h4", "app2@h4", port8080, harness.Blocked},
		{"app2@h4", "app1@h4", port443, harness.Blocked},
	})
	// An open connection keeps its conntrack entry while the list is read.
	conn, err := harness.DialTCP(app1.ns, hostPort(app2.ip, port443), probeTimeout)
	if err != nil {
		t.Fatalf("connect app1@h4 → app2@h4:443: %v", err)
	}
	defer conn.Close()
	var cts []api.BPFCTEntry
	mustJSON(t, noriCLI(t, e.h["h4"], "bpf", "ct", "list", "-o", "json"), &cts)
	local := conn.LocalAddr().String()
	if !slices.ContainsFunc(cts, func(c api.BPFCTEntry) bool {
		return (c.Src == local && c.Dst == hostPort(app2.ip, port443)) || (c.Dst == local && c.Src == hostPort(app2.ip, port443))
	}) {
		t.Errorf("nori bpf ct list on h4 has no entry for %s → %s: %+v", local, hostPort(app2.ip, port443), cts)
	}

	// ICMP: echo requests app1 → app2 by icmps rules; the echo reply
	// passes as the reply of an allowed flow, the reverse has no rule.
	ping := func(from, to *peer) error {
		_, err := run("nsenter", "--net="+from.ns, "ping", "-c", "1", "-W", "1", to.ip)
		return err
	}
	if ping(app1, app2) == nil {
		t.Errorf("ping app1@h4 → app2@h4 passes in always mode without an ICMP rule")
	}
	e.importJSON(t, e.h["h3"], `[
  {"labels": [{"key": "name", "value": "e2e-always-icmp"}],
   "endpointSelector": {"matchLabels": {"name": "app1"}},
   "egress": [{"toEndpoints": [{"matchLabels": {"name": "app2"}}], "icmps": [{"fields": [{"type": 8, "family": "IPv4"}]}]}]},
  {"labels": [{"key": "name", "value": "e2e-always-icmp"}],
   "endpointSelector": {"matchLabels": {"name": "app2"}},
   "ingress": [{"fromEndpoints": [{"matchLabels": {"name": "app1"}}], "icmps": [{"fields": [{"type": 8, "family": "IPv4"}]}]}]}
]`)
	waitFor(t, policyDeadline, "ping app1@h4 → app2@h4 allowed by icmps rules", func() error { return ping(app1, app2) })
	if ping(app2, app1) == nil {
		t.Errorf("ping app2@h4 → app1@h4 passes: only app1 → app2 echo requests are allowed")
	}

	reset = false
	e.resetPolicy(t)
	e.check(t, []reach{{"app1@h4", "app2@h4", port443, harness.Blocked}})
}

// testNeverMode: --enable-policy=never ignores a rule that the other hosts
// enforce.
func (e *policyEnv) testNeverMode(t *testing.T) {
	e.agentsAlive(t)
	t.Cleanup(func() { e.resetPolicy(t) })
	e.importPolicy(t, e.h["h3"], examplePolicy("app1-to-app2.json"), nil)
	// The rule is in force where the mode allows it...
	expect(t, e.ctr(t, "app3@h1"), e.ctr(t, "app2@h1"), port443, harness.Blocked)
	waitFor(t, policyDeadline, "h5 saw the rule", func() error {
		if out, err := nori(t, e.h["h5"], nil, "policy", "get"); err != nil || !strings.Contains(out, "app1-to-app2") {
			return fmt.Errorf("policy get on h5: %v\n%s", err, out)
		}
		return nil
	})
	// ...and ignored on h5.
	e.check(t, []reach{
		{"app3@h5", "app2@h5", port443, harness.Open},
		{"app3@h5", "app2@h5", port8080, harness.Open},
		{"app2@h5", "app3@h5", port443, harness.Open},
	})
	if ep := e.mustEndpoint(t, e.ctr(t, "app2@h5")); ep.PolicyIngress || ep.PolicyEgress {
		t.Errorf("app2@h5 enforces policy with --enable-policy=never: %+v", ep)
	}
}
