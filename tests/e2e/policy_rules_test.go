// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build e2e

package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/nori-net/nori/tests/harness"
)

// testEgress: an egress rule on app1 (conf/examples/app1-egress.json),
// enforced by the host of each app1; replies of inbound connections leave
// app1.
func (e *policyEnv) testEgress(t *testing.T) {
	e.agentsAlive(t)
	t.Cleanup(func() { e.resetPolicy(t) })
	e.importPolicy(t, e.h["h3"], examplePolicy("app1-egress.json"), nil)
	took := expect(t, e.ctr(t, "app1@h1"), e.ctr(t, "app2@h1"), port8080, harness.Blocked)
	t.Logf("egress rule enforced on h1 %s after import", took.Round(10*time.Millisecond))
	e.check(t, []reach{
		{"app1@h1", "app2@h1", port443, harness.Open},
		{"app1@h1", "app3@h1", port443, harness.Blocked},
		{"app1@h1", "world", worldPort, harness.Blocked}, // world only on 80 and 443
		// Cross-host, enforced by h2's agent on the Podman container.
		{"app1@h2", "app2@h1", port443, harness.Open},
		{"app1@h2", "app2@h1", port8080, harness.Blocked},
		{"app1@h2", "app3@h1", port443, harness.Blocked},
		// Others and app1's ingress are not affected.
		{"app3@h1", "app2@h1", port8080, harness.Open},
		{"app2@h1", "app1@h1", port443, harness.Open},
		{"app3@h2", "app1@h1", port8080, harness.Open},
	})
	if ep := e.mustEndpoint(t, e.ctr(t, "app1@h2")); !ep.PolicyEgress || ep.PolicyIngress {
		t.Errorf("app1@h2: want egress enforced only: %+v", ep)
	}
}

// testCIDR: toCIDR allows the world's address; toCIDRSet with except blocks it.
func (e *policyEnv) testCIDR(t *testing.T) {
	e.agentsAlive(t)
	t.Cleanup(func() { e.resetPolicy(t) })
	world := harness.WorldAddr.String()
	e.importJSON(t, e.h["h3"], fmt.Sprintf(`[{
  "labels": [{"key": "name", "value": "e2e-cidr"}],
  "endpointSelector": {"matchLabels": {"name": "app1"}},
  "egress": [{"toCIDR": ["%s/32"], "toPorts": [{"ports": [{"port": "%d", "protocol": "TCP"}]}]}]
}]`, world, worldPort))
	expect(t, e.ctr(t, "app1@h1"), e.ctr(t, "app2@h1"), port443, harness.Blocked)
	e.check(t, []reach{
		{"app1@h1", "world", worldPort, harness.Open},
		{"app1@h2", "world", worldPort, harness.Open},
		{"app1@h2", "app3@h1", port8080, harness.Blocked},
	})
	// The world's /24 with the world itself excepted; app2 on 443 so
	// that the replacement shows.
	e.importJSON(t, e.h["h3"], fmt.Sprintf(`[{
  "labels": [{"key": "name", "value": "e2e-cidr"}],
  "endpointSelector": {"matchLabels": {"name": "app1"}},
  "egress": [
    {"toCIDRSet": [{"cidr": "%s", "except": ["%s/32"]}]},
    {"toEndpoints": [{"matchLabels": {"name": "app2"}}], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}
  ]
}]`, harness.UnderlayPrefix, world), "--replace")
	expect(t, e.ctr(t, "app1@h1"), e.ctr(t, "app2@h1"), port443, harness.Open)
	e.check(t, []reach{
		{"app1@h1", "world", worldPort, harness.Blocked},
		{"app1@h2", "world", worldPort, harness.Blocked},
		{"app3@h1", "world", worldPort, harness.Open},
	})
}

// testEntities: fromEntities host and cluster, toEntities world; deleting
// one rule by label leaves the other.
func (e *policyEnv) testEntities(t *testing.T) {
	e.agentsAlive(t)
	t.Cleanup(func() { e.resetPolicy(t) })
	rule := func(ingress string) string {
		return `[{"labels": [{"key": "name", "value": "e2e-entities"}],
  "endpointSelector": {"matchLabels": {"name": "app2"}}, "ingress": [` + ingress + `]}]`
	}
	e.importJSON(t, e.h["h3"], rule(`{"fromEntities": ["host"]}`))
	expect(t, e.ctr(t, "app1@h1"), e.ctr(t, "app2@h1"), port443, harness.Blocked)
	e.check(t, []reach{
		{"host@h1", "app2@h1", port443, harness.Open},
		{"host@h1", "app2@h1", port8080, harness.Open},
		{"app3@h2", "app2@h1", port443, harness.Blocked},
	})

	e.importJSON(t, e.h["h3"], rule(`{"fromEntities": ["cluster"], "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}]}]}`), "--replace")
	expect(t, e.ctr(t, "app1@h2"), e.ctr(t, "app2@h1"), port8080, harness.Open)
	e.check(t, []reach{
		{"app3@h1", "app2@h1", port8080, harness.Open},
		{"app1@h1", "app2@h1", port443, harness.Blocked},
	})

	e.importJSON(t, e.h["h3"], `[{"labels": [{"key": "name", "value": "e2e-world"}],
  "endpointSelector": {"matchLabels": {"name": "app1"}}, "egress": [{"toEntities": ["world"]}]}]`)
	expect(t, e.ctr(t, "app1@h1"), e.ctr(t, "app3@h1"), port443, harness.Blocked)
	e.check(t, []reach{
		{"app1@h1", "world", worldPort, harness.Open},
		{"app1@h2", "world", worldPort, harness.Open},
		{"app1@h2", "app3@h1", port443, harness.Blocked},
	})
	// Deleting one rule by its label leaves the other in force.
	if out, err := nori(t, e.h["h1"], nil, "policy", "delete", "name=e2e-world"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	expect(t, e.ctr(t, "app1@h1"), e.ctr(t, "app3@h1"), port443, harness.Open)
	e.check(t, []reach{{"app1@h1", "app2@h1", port443, harness.Blocked}})
}

// testDeny: ingressDeny and egressDeny beat allow rules, by peer and by port.
func (e *policyEnv) testDeny(t *testing.T) {
	e.agentsAlive(t)
	t.Cleanup(func() { e.resetPolicy(t) })
	e.importPolicy(t, e.h["h3"], examplePolicy("deny-app3.json"), nil)
	expect(t, e.ctr(t, "app3@h1"), e.ctr(t, "app2@h1"), port443, harness.Blocked)
	e.check(t, []reach{
		{"app3@h2", "app2@h1", port443, harness.Blocked},
		{"app1@h1", "app2@h1", port443, harness.Open},
		{"app1@h2", "app2@h1", port443, harness.Open},
		{"app1@h1", "app2@h1", port8080, harness.Blocked}, // denied port
	})
	e.importJSON(t, e.h["h3"], `[{"labels": [{"key": "name", "value": "e2e-egress-deny"}],
  "endpointSelector": {"matchLabels": {"name": "app1"}},
  "egress": [{"toEntities": ["all"]}],
  "egressDeny": [{"toEndpoints": [{"matchLabels": {"name": "app3"}}]}]}]`)
	expect(t, e.ctr(t, "app1@h1"), e.ctr(t, "app3@h1"), port443, harness.Blocked)
	e.check(t, []reach{
		{"app1@h2", "app3@h1", port8080, harness.Blocked},
		{"app1@h2", "app3@h2", port443, harness.Blocked},
		{"app1@h1", "app2@h1", port443, harness.Open},
		{"app1@h1", "world", worldPort, harness.Open},
	})
}
