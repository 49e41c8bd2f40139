// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policymap

import (
	"testing"

	"github.com/nori-net/nori/agent/policy"
)

// BenchmarkCompute: 500 identities with two port ranges each, plus
// wildcard denies that get copied into every identity.
func BenchmarkCompute(b *testing.B) {
	var es []policy.Entry
	for id := uint32(256); id < 756; id++ {
		es = append(es, allow(id, tcp, 8000, 8999, 0), redirect(allow(id, tcp, 443, 443, 1)))
	}
	es = append(es, deny(0, tcp, 8080, 8080, 2), deny(0, tcp, 8443, 8443, 3), allow(0, icmp, 8, 8, 4))
	ep := &policy.EndpointPolicy{Ingress: policy.DirectionPolicy{Enforced: true, Entries: es},
		Egress: policy.DirectionPolicy{Enforced: true, Entries: es}}
	for b.Loop() {
		keys, err := Compute(1, ep, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(keys)), "keys")
	}
}
