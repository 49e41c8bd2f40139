// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nori-net/nori/agent/policy"
)

func TestMerge(t *testing.T) {
	tls := func(secret, ca string) *policy.TLSContext {
		return &policy.TLSContext{Secret: &policy.Secret{Name: secret}, TrustedCA: ca}
	}
	get := policy.PortRuleHTTP{Method: "GET"}
	post := policy.PortRuleHTTP{Method: "POST", Path: "/api/.*"}
	tests := []struct {
		name    string
		in      []policy.L7Policy
		want    Settings
		wantErr string
	}{
		{name: "nothing allows everything", in: nil, want: Settings{}},
		{name: "http rules add up",
			in:   []policy.L7Policy{{HTTP: []policy.PortRuleHTTP{get}}, {HTTP: []policy.PortRuleHTTP{post}}},
			want: Settings{HTTP: []policy.PortRuleHTTP{get, post}}},
		{name: "a policy without http rules allows every request",
			in:   []policy.L7Policy{{HTTP: []policy.PortRuleHTTP{get}}, {TerminatingTLS: tls("web", "")}},
			want: Settings{TerminatingTLS: tls("web", "")}},
		{name: "a TLS context is shared with the plain allow",
			in:   []policy.L7Policy{{}, {TerminatingTLS: tls("web", ""), HTTP: []policy.PortRuleHTTP{get}}},
			want: Settings{TerminatingTLS: tls("web", "")}},
		{name: "equal contexts, defaults spelled out",
			in: []policy.L7Policy{{TerminatingTLS: tls("web", ""), HTTP: []policy.PortRuleHTTP{get}},
				{TerminatingTLS: &policy.TLSContext{Secret: &policy.Secret{Name: "web"}, Certificate: "tls.crt"}, HTTP: []policy.PortRuleHTTP{post}}},
			want: Settings{TerminatingTLS: tls("web", ""), HTTP: []policy.PortRuleHTTP{get, post}}},
		{name: "different terminating contexts conflict",
			in:      []policy.L7Policy{{TerminatingTLS: tls("web", "")}, {TerminatingTLS: tls("web", "ca.crt"), Rule: policy.RuleRef{Index: 3}}},
			wantErr: "terminatingTLS of rule 3"},
		{name: "different originating contexts conflict",
			in:      []policy.L7Policy{{OriginatingTLS: tls("a", "ca.crt")}, {OriginatingTLS: tls("b", "ca.crt")}},
			wantErr: "originatingTLS"},
		{name: "server names add up",
			in: []policy.L7Policy{{TerminatingTLS: tls("web", ""), ServerNames: []string{"a.example"}},
				{TerminatingTLS: tls("web", ""), ServerNames: []string{"b.example", "a.example"}}},
			want: Settings{TerminatingTLS: tls("web", ""), ServerNames: []string{"a.example", "b.example"}}},
		{name: "a terminating policy without names accepts every name",
			in: []policy.L7Policy{{TerminatingTLS: tls("web", ""), ServerNames: []string{"a.example"}},
				{TerminatingTLS: tls("web", "")}},
			want: Settings{TerminatingTLS: tls("web", "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Merge(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Merge: err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Merge: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Merge:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
