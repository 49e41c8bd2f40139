// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"strings"
	"testing"
)

func TestTrace(t *testing.T) {
	policy := `[` + seedRule[1:len(seedRule)-1] + `,
	{"labels": ["name=no-ssh"], "endpointSelector": {}, "ingressDeny": [{"toPorts": [{"ports": [{"port": "22", "protocol": "TCP"}]}]}]},
	{"labels": ["name=egress-web"], "endpointSelector": {"matchLabels": {"name": "app3"}}, "egress": [{"toCIDR": ["192.0.2.0/24"]}]}]`
	tests := []struct {
		name     string
		src, dst []string
		mode     Mode
		proto    uint8
		port     uint16
		want     Verdict
		contains []string
	}{
		{"seed allows app1", app1, app2, ModeDefault, IPProtoTCP, 443, Allow, []string{
			"egress of the source: policy not enforced",
			"ingress of the destination: allowed by rule 0 [unspec:name=allow-app1-to-app2] (peer 256, TCP 443), redirected to the proxy",
			"Final verdict: ALLOWED (L3/L4; the request then passes the L7/TLS proxy)",
		}},
		{"seed denies app3 by default", app3, app2, ModeDefault, IPProtoTCP, 443, Deny, []string{
			"ingress of the destination: enforced, no rule matches: denied by default",
			"Final verdict: DENIED",
		}},
		{"deny rule names itself", app1, app2, ModeDefault, IPProtoTCP, 22, Deny, []string{
			"ingress of the destination: denied by rule 1 [unspec:name=no-ssh] (peer any, TCP 22)",
		}},
		{"egress cidr", app3, []string{"cidr:192.0.2.7/32"}, ModeDefault, IPProtoUDP, 53, Allow, []string{
			"egress of the source: allowed by rule 2 [unspec:name=egress-web] (peer 192.0.2.0/24, any any port)",
		}},
		{"egress cidr miss", app3, []string{"cidr:198.51.100.1/32"}, ModeDefault, IPProtoUDP, 53, Deny, []string{
			"egress of the source: enforced, no rule matches",
		}},
		{"never mode", app3, app2, ModeNever, IPProtoTCP, 443, Allow, []string{"mode never"}},
		{"known identity is named", app1, []string{"reserved:host"}, ModeDefault, IPProtoTCP, 80, Allow, []string{
			"[reserved:host] (identity 1)", "[container:name=app1] (identity 256)",
		}},
		{"unknown labels get a stand-in", []string{"container:name=new"}, app2, ModeDefault, IPProtoTCP, 443, Deny, []string{
			"[container:name=new] ->",
		}},
	}
	repo := repoOf(t, policy)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Trace(repo, tt.src, tt.dst, tt.proto, tt.port, tt.mode, cluster)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tt.want {
				t.Errorf("verdict %v, want %v\n%s", res.Verdict, tt.want, res)
			}
			out := res.String()
			for _, c := range tt.contains {
				if !strings.Contains(out, c) {
					t.Errorf("explanation lacks %q:\n%s", c, out)
				}
			}
		})
	}
	if _, err := Trace(repo, []string{"=x"}, app2, IPProtoTCP, 1, ModeDefault, cluster); err == nil {
		t.Error("accepted malformed source labels")
	}
}
