// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"fmt"
	"testing"
)

// BenchmarkResolve sizes one endpoint's resolution against the issue's
// 1 000 and 10 000 rule targets, each rule selecting its own app.
func BenchmarkResolve(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			repo := NewRepository()
			var ids []Identity
			rules := make([]Rule, 0, n)
			for i := range n {
				ids = append(ids, Identity{uint32(256 + i), []string{fmt.Sprintf("container:name=app%d", i)}})
				rules = append(rules, Rule{
					EndpointSelector: EndpointSelector{MatchLabels: map[string]string{"name": fmt.Sprintf("app%d", i)}},
					Ingress: []IngressRule{{
						FromEndpoints: []EndpointSelector{{MatchLabels: map[string]string{"name": fmt.Sprintf("app%d", (i+1)%n)}}},
						ToPorts:       []PortRule{{Ports: []PortProtocol{{Port: "443", Protocol: ProtoTCP}}}},
					}},
				})
			}
			repo.Add(rules)
			b.ResetTimer()
			for b.Loop() {
				ep, err := Resolve(repo, []string{"container:name=app7"}, ModeDefault, ids)
				if err != nil || len(ep.Ingress.Entries) != 1 {
					b.Fatal(err, ep)
				}
			}
		})
	}
}
