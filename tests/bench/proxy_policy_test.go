// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"testing"

	"github.com/nori-net/nori/agent/policy"
)

// TestProxyPolicy checks that the section's policy is one Nori accepts and
// that only the backend's port is terminated.
func TestProxyPolicy(t *testing.T) {
	rules, err := policy.Parse([]byte(proxyPolicy))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if len(rules) != 1 || len(rules[0].Ingress) != 1 {
		t.Fatalf("want one rule with one ingress element: %+v", rules)
	}
	tls := map[string]string{} // port -> terminating secret
	for _, pr := range rules[0].Ingress[0].ToPorts {
		for _, p := range pr.Ports {
			tls[p.Port] = ""
			if pr.TerminatingTLS != nil && pr.TerminatingTLS.Secret != nil {
				tls[p.Port] = pr.TerminatingTLS.Secret.Name
			}
		}
	}
	want := map[string]string{proxyNoriPort: proxySecret, proxyNginxPort: "", proxyLimitPort: ""}
	for port, secret := range want {
		got, ok := tls[port]
		if !ok || got != secret {
			t.Errorf("port %s: terminating secret %q (present %v), want %q", port, got, ok, secret)
		}
	}
	if len(tls) != len(want) {
		t.Errorf("ports %v, want %v", tls, want)
	}
}
