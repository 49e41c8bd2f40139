// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// seedRule is the seed scenario's rule: app1 may reach app2 on 443/TCP,
// TLS terminated with the secret my-tls.
const seedRule = `[{
  "labels": ["name=allow-app1-to-app2"],
  "endpointSelector": {"matchLabels": {"name": "app2"}},
  "ingress": [{
    "fromEndpoints": [{"matchLabels": {"name": "app1"}}],
    "toPorts": [{
      "ports": [{"port": "443", "protocol": "TCP"}],
      "terminatingTLS": {"secret": {"name": "my-tls"}},
      "rules": {"http": [{"method": "GET", "path": "/api/.*"}]}
    }]
  }]
}]`

func TestParseValid(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, rs []Rule)
	}{
		{"seed rule", seedRule, func(t *testing.T, rs []Rule) {
			r := rs[0]
			if got := r.Labels.Strings(); !reflect.DeepEqual(got, []string{"unspec:name=allow-app1-to-app2"}) {
				t.Errorf("labels %v", got)
			}
			pr := r.Ingress[0].ToPorts[0]
			if pr.Ports[0] != (PortProtocol{Port: "443", Protocol: ProtoTCP}) {
				t.Errorf("port %+v", pr.Ports[0])
			}
			if pr.TerminatingTLS == nil || pr.TerminatingTLS.Secret.Name != "my-tls" {
				t.Errorf("tls %+v", pr.TerminatingTLS)
			}
			if pr.Rules.HTTP[0].Path != "/api/.*" {
				t.Errorf("http %+v", pr.Rules.HTTP)
			}
		}},
		{"single object", `{"endpointSelector": {}, "ingress": [{}]}`, func(t *testing.T, rs []Rule) {
			if len(rs) != 1 || len(rs[0].Ingress) != 1 {
				t.Errorf("got %+v", rs)
			}
		}},
		{"deny rule", `{"endpointSelector": {"matchLabels": {"container:name": "db"}},
			"ingressDeny": [{"fromEntities": ["world"], "toPorts": [{"ports": [{"port": "5432"}]}]}],
			"egressDeny": [{"toCIDR": ["10.0.0.1"]}]}`, func(t *testing.T, rs []Rule) {
			d := rs[0].IngressDeny[0]
			if d.FromEntities[0] != EntityWorld || d.ToPorts[0].Ports[0].Protocol != ProtoAny {
				t.Errorf("got %+v", d)
			}
			if rs[0].EgressDeny[0].ToCIDR[0] != "10.0.0.1/32" {
				t.Errorf("bare address not made a /32: %v", rs[0].EgressDeny[0].ToCIDR)
			}
		}},
		{"cidr with except", `{"endpointSelector": {}, "egress": [{"toCIDRSet": [{"cidr": "10.0.0.0/8", "except": ["10.96.0.0/12"]}]}]}`,
			func(t *testing.T, rs []Rule) {
				c := rs[0].Egress[0].ToCIDRSet[0]
				if c.CIDR != "10.0.0.0/8" || c.Except[0] != "10.96.0.0/12" {
					t.Errorf("got %+v", c)
				}
			}},
		{"entities and icmp", `{"endpointSelector": {}, "egress": [{"toEntities": ["host", "cluster", "remote-node", "health", "init", "unmanaged", "all", "none", "world-ipv4"]},
			{"icmps": [{"fields": [{"type": 8}, {"type": "EchoRequest", "family": "IPv6"}]}]}]}`, func(t *testing.T, rs []Rule) {
			f := rs[0].Egress[1].ICMPs[0].Fields
			if f[0].Type != 8 || f[1].Type != 128 || f[1].Family != "IPv6" {
				t.Errorf("icmp %+v", f)
			}
		}},
		{"port range and numeric port", `{"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": 8000, "endPort": 8080, "protocol": "udp"}]}]}]}`,
			func(t *testing.T, rs []Rule) {
				p := rs[0].Ingress[0].ToPorts[0].Ports[0]
				if p != (PortProtocol{Port: "8000", EndPort: 8080, Protocol: ProtoUDP}) {
					t.Errorf("got %+v", p)
				}
			}},
		{"label object and expressions", `{"labels": [{"key": "team", "value": "a", "source": "k8s"}],
			"endpointSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}, {"key": "x", "operator": "DoesNotExist"}]},
			"enableDefaultDeny": {"ingress": false}, "ingress": [{}], "description": "d"}`, func(t *testing.T, rs []Rule) {
			r := rs[0]
			if r.Labels[0] != (Label{Source: "k8s", Key: "team", Value: "a"}) || *r.EnableDefaultDeny.Ingress || r.EnableDefaultDeny.Egress != nil {
				t.Errorf("got %+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, rs)
			// Storage round trip: what MarshalJSON writes parses back equal.
			data, err := json.Marshal(rs)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(data)
			if err != nil {
				t.Fatalf("reparse %s: %v", data, err)
			}
			if !reflect.DeepEqual(rs, back) {
				t.Errorf("round trip changed the rules:\n%+v\n%+v", rs, back)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	const web = `"labels": ["name=allow-web"], "endpointSelector": {}, `
	tests := []struct{ name, in, want string }{
		{"not json", `{`, "parse policy"},
		{"not a rule", `"x"`, "expected a rule object or an array"},
		{"empty list", `[]`, "no rules"},
		{"trailing data", `{"endpointSelector": {}} {}`, "data after"},
		{"unknown top field", `{"endpointSelector": {}, "ingres": []}`, "rule 0: ingres: unknown field"},
		{"no selector", `{"ingress": [{}]}`, "endpointSelector: required"},
		{"node selector", `{"nodeSelector": {}}`, "nodeSelector: not supported"},
		{"both selectors", `{"endpointSelector": {}, "nodeSelector": {}}`, "mutually exclusive"},
		{"bad port", `[{"endpointSelector": {}}, {"endpointSelector": {}}, {` + web + `"ingress": [{"toPorts": [{"ports": [{"port": "abc"}]}]}]}]`,
			`rule 2 (labels name=allow-web): ingress[0].toPorts[0].ports[0].port: "abc" is not a port number`},
		{"port too big", `{` + web + `"ingress": [{"toPorts": [{"ports": [{"port": "70000"}]}]}]}`, "ingress[0].toPorts[0].ports[0].port"},
		{"port range string", `{` + web + `"ingress": [{"toPorts": [{"ports": [{"port": "80-90"}]}]}]}`, "write a range as port and endPort"},
		{"endPort below port", `{` + web + `"egress": [{"toPorts": [{"ports": [{"port": "90", "endPort": 80}]}]}]}`, "egress[0].toPorts[0].ports[0].endPort: 80 is below port 90"},
		{"endPort without port", `{` + web + `"egress": [{"toPorts": [{"ports": [{"endPort": 80}]}]}]}`, "ports[0].endPort: needs a port"},
		{"bad protocol", `{` + web + `"ingress": [{"toPorts": [{"ports": [{"port": "80", "protocol": "ICMP"}]}]}]}`, `ports[0].protocol: "ICMP" is not TCP, UDP, SCTP or ANY`},
		{"bad cidr", `{` + web + `"ingress": [{"fromCIDR": ["10.0.0.0/33"]}]}`, `ingress[0].fromCIDR[0]: "10.0.0.0/33" is not a CIDR`},
		{"except outside", `{` + web + `"egress": [{"toCIDRSet": [{"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}]}]}`, "egress[0].toCIDRSet[0].except[0]: 192.168.0.0/16 is not inside 10.0.0.0/8"},
		{"cidrset without cidr", `{` + web + `"egress": [{"toCIDRSet": [{"except": ["10.0.0.0/16"]}]}]}`, "toCIDRSet[0].cidr: required"},
		{"unknown entity", `{` + web + `"egress": [{"toEntities": ["internet"]}]}`, `egress[0].toEntities[0]: unknown entity "internet"`},
		{"k8s entity", `{` + web + `"egress": [{"toEntities": ["kube-apiserver"]}]}`, "egress[0].toEntities[0]: entity \"kube-apiserver\" is not supported"},
		{"bad operator", `{"endpointSelector": {"matchExpressions": [{"key": "a", "operator": "in", "values": ["x"]}]}}`, "endpointSelector.matchExpressions[0].operator"},
		{"In without values", `{"endpointSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}`, "matchExpressions[0].values: operator In needs"},
		{"Exists with values", `{"endpointSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}}`, "values: operator Exists takes no values"},
		{"matchLabels number", `{"endpointSelector": {"matchLabels": {"name": 1}}}`, "endpointSelector.matchLabels[name]: label value must be a string"},
		{"matchLabels empty source", `{"endpointSelector": {"matchLabels": {":name": "x"}}}`, `endpointSelector.matchLabels[:name]: label key`},
		{"deny with http", `{` + web + `"ingressDeny": [{"toPorts": [{"ports": [{"port": "80"}], "rules": {"http": [{}]}}]}]}`, "ingressDeny[0].toPorts[0].rules: deny rules cannot carry L7"},
		{"deny with tls", `{` + web + `"egressDeny": [{"toPorts": [{"terminatingTLS": {"secret": {"name": "x"}}}]}]}`, "egressDeny[0].toPorts[0].terminatingTLS: deny rules cannot carry TLS"},
		{"bad regex", `{` + web + `"ingress": [{"toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}], "rules": {"http": [{"path": "/a("}]}}]}]}`, "ingress[0].toPorts[0].rules.http[0].path: invalid regex"},
		{"http on udp", `{` + web + `"ingress": [{"toPorts": [{"ports": [{"port": "80", "protocol": "UDP"}], "rules": {"http": [{"path": "/"}]}}]}]}`, "ports[0].protocol: L7 rules and TLS settings need protocol TCP"},
		{"http without port", `{` + web + `"ingress": [{"toPorts": [{"rules": {"http": [{"path": "/"}]}}]}]}`, "ingress[0].toPorts[0].ports: L7 rules"},
		{"tls without secret", `{` + web + `"ingress": [{"toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}], "terminatingTLS": {}}]}]}`, "terminatingTLS.secret: required"},
		{"tls secret path", `{` + web + `"ingress": [{"toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}], "terminatingTLS": {"secret": {"name": "../etc"}}}]}]}`, "terminatingTLS.secret.name: \"../etc\" must be a plain"},
		{"tls unknown field", `{` + web + `"ingress": [{"toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}], "originatingTLS": {"secret": {"name": "a"}, "ca": "x"}}]}]}`, "originatingTLS.ca: unknown field"},
		{"bad server name", `{` + web + `"egress": [{"toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}], "serverNames": ["a b"]}]}]}`, "egress[0].toPorts[0].serverNames[0]"},
		{"bad header", `{` + web + `"ingress": [{"toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}], "rules": {"http": [{"headers": [" x"]}]}}]}]}`, "rules.http[0].headers[0]"},
		{"kafka", `{` + web + `"ingress": [{"toPorts": [{"ports": [{"port": "9092", "protocol": "TCP"}], "rules": {"kafka": []}}]}]}`, "ingress[0].toPorts[0].rules.kafka: not supported"},
		{"fqdn", `{` + web + `"egress": [{"toFQDNs": [{"matchName": "a.com"}]}]}`, "egress[0].toFQDNs: not supported"},
		{"icmp with ports", `{` + web + `"ingress": [{"toPorts": [{"ports": [{"port": "80"}]}], "icmps": [{"fields": [{"type": 8}]}]}]}`, "ingress[0].icmps: icmps and toPorts are mutually exclusive"},
		{"icmp bad type", `{` + web + `"ingress": [{"icmps": [{"fields": [{"type": 300}]}]}]}`, "ingress[0].icmps[0].fields[0].type: 300 is not a whole number"},
		{"icmp bad family", `{` + web + `"ingress": [{"icmps": [{"fields": [{"type": 8, "family": "IPv5"}]}]}]}`, "fields[0].family"},
		{"label bad type", `{"labels": [1], "endpointSelector": {}}`, "rule 0: labels[0]: expected a label string"},
		{"label empty key", `{"labels": ["a:=b"], "endpointSelector": {}}`, "labels[0]: label \"a:=b\": empty key"},
		{"defaultDeny not bool", `{` + web + `"enableDefaultDeny": {"ingress": "no"}}`, "enableDefaultDeny.ingress: expected true or false"},
		{"ingress not array", `{` + web + `"ingress": {}}`, "rule 0 (labels name=allow-web): ingress: expected an array, got an object"},
		{"fromEndpoints unknown", `{` + web + `"ingress": [{"fromEndpoints": [{"matchLabel": {}}]}]}`, "ingress[0].fromEndpoints[0].matchLabel: unknown field"},
		{"description number", `{` + web + `"description": 5}`, "description: expected a string"},
	}
	if len(tests) < 25 {
		t.Fatalf("only %d malformed cases", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("accepted %s", tt.in)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCompileHTTPRegexFullMatch(t *testing.T) {
	re, err := CompileHTTPRegex("/api/.*")
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{"/api/x": true, "/api/": true, "/x/api/y": false, "/ap": false} {
		if re.MatchString(s) != want {
			t.Errorf("%q: got %v", s, !want)
		}
	}
	if re, _ := CompileHTTPRegex("GET|POST"); !re.MatchString("POST") || re.MatchString("GETX") {
		t.Error("alternation not anchored as a whole")
	}
}
