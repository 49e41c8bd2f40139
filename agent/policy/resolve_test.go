// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"net/netip"
	"testing"
)

var (
	app1 = []string{"container:name=app1"}
	app2 = []string{"container:name=app2"}
	app3 = []string{"container:name=app3"}
	// cluster holds the endpoint identities the tests resolve against.
	cluster = []Identity{{256, app1}, {257, app2}, {258, app3}}
)

func repoOf(t *testing.T, js string) *Repository {
	t.Helper()
	repo := NewRepository()
	if js == "" {
		return repo
	}
	rules, err := Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	repo.Add(rules)
	return repo
}

func resolve(t *testing.T, repo *Repository, subject []string, mode Mode) *EndpointPolicy {
	t.Helper()
	ep, err := Resolve(repo, subject, mode, cluster)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

type flow struct {
	peer  uint32
	addr  string
	proto uint8
	port  uint16
	want  Verdict
}

func (f flow) query() Query {
	q := Query{Identity: f.peer, Proto: f.proto, Port: f.port}
	if f.addr != "" {
		q.Addr = netip.MustParseAddr(f.addr)
	}
	return q
}

func TestResolveVerdicts(t *testing.T) {
	tests := []struct {
		name     string
		policy   string
		subject  []string
		mode     Mode
		ingress  bool // which direction the flows are checked in
		enforced [2]bool
		flows    []flow
	}{
		{"seed rule", seedRule, app2, ModeDefault, true, [2]bool{true, false}, []flow{
			{peer: 256, proto: IPProtoTCP, port: 443, want: Allow},
			{peer: 258, proto: IPProtoTCP, port: 443, want: Deny},
			{peer: 256, proto: IPProtoTCP, port: 80, want: Deny},
			{peer: 256, proto: IPProtoUDP, port: 443, want: Deny},
			{peer: IDWorld, proto: IPProtoTCP, port: 443, want: Deny},
		}},
		{"unselected endpoint open", seedRule, app1, ModeDefault, true, [2]bool{false, false}, []flow{
			{peer: 258, proto: IPProtoTCP, port: 80, want: Allow},
		}},
		{"always without rules denies", "", app1, ModeAlways, true, [2]bool{true, true}, []flow{
			{peer: 256, proto: IPProtoTCP, port: 80, want: Deny},
		}},
		{"never ignores rules", seedRule, app2, ModeNever, true, [2]bool{false, false}, []flow{
			{peer: 258, proto: IPProtoTCP, port: 80, want: Allow},
		}},
		{"init enforced both ways", "", []string{"reserved:init"}, ModeDefault, true, [2]bool{true, true}, []flow{
			{peer: 256, proto: IPProtoTCP, port: 80, want: Deny},
		}},
		{"host not enforced", `{"endpointSelector": {}, "ingress": [{}]}`, []string{"reserved:host"}, ModeAlways, true, [2]bool{false, false}, nil},
		{"empty ingress rule denies all", `{"endpointSelector": {}, "ingress": [{}]}`, app1, ModeDefault, true, [2]bool{true, false}, []flow{
			{peer: 257, proto: IPProtoTCP, port: 80, want: Deny},
		}},
		{"deny beats allow", `[{"endpointSelector": {"matchLabels": {"name": "app2"}},
			"ingress": [{"fromEndpoints": [{}]}],
			"ingressDeny": [{"fromEndpoints": [{"matchLabels": {"name": "app3"}}], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}]}]`,
			app2, ModeDefault, true, [2]bool{true, false}, []flow{
				{peer: 258, proto: IPProtoTCP, port: 443, want: Deny},
				{peer: 258, proto: IPProtoTCP, port: 80, want: Allow},
				{peer: 256, proto: IPProtoTCP, port: 443, want: Allow},
			}},
		{"wildcard deny beats specific allow", `[{"endpointSelector": {"matchLabels": {"name": "app2"}},
			"ingress": [{"fromEndpoints": [{"matchLabels": {"name": "app1"}}], "toPorts": [{"ports": [{"port": "22", "protocol": "TCP"}]}]}],
			"ingressDeny": [{"toPorts": [{"ports": [{"port": "22"}]}]}]}]`,
			app2, ModeDefault, true, [2]bool{true, false}, []flow{
				{peer: 256, proto: IPProtoTCP, port: 22, want: Deny},
			}},
		{"port range", `{"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": "8000", "endPort": 8080, "protocol": "TCP"}]}]}]}`,
			app1, ModeDefault, true, [2]bool{true, false}, []flow{
				{peer: 257, proto: IPProtoTCP, port: 8000, want: Allow},
				{peer: 257, proto: IPProtoTCP, port: 8080, want: Allow},
				{peer: 257, proto: IPProtoTCP, port: 8081, want: Deny},
				{peer: 257, proto: IPProtoTCP, port: 7999, want: Deny},
				{peer: 257, proto: IPProtoUDP, port: 8050, want: Deny},
			}},
		{"ANY protocol with a port", `{"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": "53"}]}]}]}`,
			app1, ModeDefault, true, [2]bool{true, false}, []flow{
				{peer: 257, proto: IPProtoTCP, port: 53, want: Allow},
				{peer: 257, proto: IPProtoUDP, port: 53, want: Allow},
				{peer: 257, proto: IPProtoSCTP, port: 53, want: Allow},
				{peer: 257, proto: IPProtoICMP, port: 53, want: Deny},
				{peer: 257, proto: IPProtoUDP, port: 54, want: Deny},
			}},
		{"enableDefaultDeny false keeps the rest open", `{"endpointSelector": {}, "enableDefaultDeny": {"egress": false},
			"egressDeny": [{"toEntities": ["world"]}]}`,
			app1, ModeDefault, false, [2]bool{false, true}, []flow{
				{peer: IDWorld, proto: IPProtoTCP, port: 443, want: Deny},
				{peer: 257, proto: IPProtoTCP, port: 443, want: Allow},
				{peer: IDHost, proto: IPProtoUDP, port: 53, want: Allow},
			}},
		{"one default-deny rule wins over an opt-out", `[{"endpointSelector": {}, "enableDefaultDeny": {"egress": false}, "egressDeny": [{"toEntities": ["world"]}]},
			{"endpointSelector": {}, "egress": [{"toEntities": ["host"]}]}]`,
			app1, ModeDefault, false, [2]bool{false, true}, []flow{
				{peer: 257, proto: IPProtoTCP, port: 443, want: Deny},
				{peer: IDHost, proto: IPProtoTCP, port: 443, want: Allow},
			}},
		{"cidr with except", `{"endpointSelector": {}, "egress": [{"toCIDRSet": [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}]}]}`,
			app1, ModeDefault, false, [2]bool{false, true}, []flow{
				{peer: IDWorld, addr: "10.2.3.4", proto: IPProtoTCP, port: 80, want: Allow},
				{peer: IDWorld, addr: "10.255.0.1", proto: IPProtoTCP, port: 80, want: Allow},
				{peer: IDWorld, addr: "10.1.3.4", proto: IPProtoTCP, port: 80, want: Deny},
				{peer: IDWorld, addr: "11.0.0.1", proto: IPProtoTCP, port: 80, want: Deny},
			}},
		{"world entity", `{"endpointSelector": {}, "egress": [{"toEntities": ["world"]}]}`,
			app1, ModeDefault, false, [2]bool{false, true}, []flow{
				{peer: IDWorld, proto: IPProtoTCP, port: 80, want: Allow},
				{peer: IDHost, proto: IPProtoTCP, port: 80, want: Deny},
				{peer: 257, proto: IPProtoTCP, port: 80, want: Deny},
			}},
		{"cluster entity", `{"endpointSelector": {}, "egress": [{"toEntities": ["cluster"]}]}`,
			app1, ModeDefault, false, [2]bool{false, true}, []flow{
				{peer: 257, proto: IPProtoTCP, port: 80, want: Allow},
				{peer: IDHost, proto: IPProtoTCP, port: 80, want: Allow},
				{peer: IDRemoteNode, proto: IPProtoTCP, port: 80, want: Allow},
				{peer: IDHealth, proto: IPProtoTCP, port: 80, want: Allow},
				{peer: IDInit, proto: IPProtoTCP, port: 80, want: Allow},
				{peer: IDWorld, proto: IPProtoTCP, port: 80, want: Deny},
			}},
		{"all entity", `{"endpointSelector": {}, "ingress": [{"fromEntities": ["all"], "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}]}`,
			app1, ModeDefault, true, [2]bool{true, false}, []flow{
				{peer: IDWorld, proto: IPProtoTCP, port: 80, want: Allow},
				{peer: 12345, proto: IPProtoTCP, port: 80, want: Allow},
				{peer: IDWorld, proto: IPProtoTCP, port: 81, want: Deny},
			}},
		{"host and health entities", `{"endpointSelector": {}, "ingress": [{"fromEntities": ["host", "health"]}]}`,
			app1, ModeDefault, true, [2]bool{true, false}, []flow{
				{peer: IDHost, proto: IPProtoTCP, port: 80, want: Allow},
				{peer: IDHealth, proto: IPProtoICMP, port: 8, want: Allow},
				{peer: IDRemoteNode, proto: IPProtoTCP, port: 80, want: Deny},
			}},
		{"icmp types", `{"endpointSelector": {}, "ingress": [{"icmps": [{"fields": [{"type": 8}]}]}]}`,
			app1, ModeDefault, true, [2]bool{true, false}, []flow{
				{peer: 257, proto: IPProtoICMP, port: 8, want: Allow},
				{peer: 257, proto: IPProtoICMP, port: 0, want: Deny},
				{peer: 257, proto: IPProtoTCP, port: 8, want: Deny},
			}},
		{"reserved selector in fromEndpoints", `{"endpointSelector": {}, "ingress": [{"fromEndpoints": [{"matchLabels": {"reserved:host": ""}}]}]}`,
			app1, ModeDefault, true, [2]bool{true, false}, []flow{
				{peer: IDHost, proto: IPProtoTCP, port: 80, want: Allow},
				{peer: 257, proto: IPProtoTCP, port: 80, want: Deny},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := resolve(t, repoOf(t, tt.policy), tt.subject, tt.mode)
			if ep.Ingress.Enforced != tt.enforced[0] || ep.Egress.Enforced != tt.enforced[1] {
				t.Errorf("enforced ingress=%v egress=%v, want %v", ep.Ingress.Enforced, ep.Egress.Enforced, tt.enforced)
			}
			d := ep.Egress
			if tt.ingress {
				d = ep.Ingress
			}
			for _, f := range tt.flows {
				if got, e := d.Lookup(f.query()); got != f.want {
					t.Errorf("flow %+v: got %v (entry %+v), want %v", f, got, e, f.want)
				}
			}
		})
	}
}

func TestResolveEntries(t *testing.T) {
	t.Run("seed rule redirects with TLS", func(t *testing.T) {
		ep := resolve(t, repoOf(t, seedRule), app2, ModeDefault)
		if len(ep.Ingress.Entries) != 1 {
			t.Fatalf("entries %+v", ep.Ingress.Entries)
		}
		e := ep.Ingress.Entries[0]
		if e.Peer != (Peer{Identity: 256}) || e.Proto != IPProtoTCP || e.Port != 443 || e.EndPort != 443 || e.Verdict != Allow || !e.Redirect {
			t.Errorf("entry %+v", e)
		}
		if len(e.L7) != 1 || e.L7[0].TerminatingTLS.Secret.Name != "my-tls" || e.L7[0].Rule.Index != 0 ||
			e.L7[0].Rule.Labels[0] != "unspec:name=allow-app1-to-app2" {
			t.Errorf("l7 %+v", e.L7)
		}
	})
	t.Run("plain allow on an L7 key allows every request", func(t *testing.T) {
		repo := repoOf(t, seedRule)
		rules, _ := Parse([]byte(`{"endpointSelector": {"matchLabels": {"name": "app2"}}, "ingress": [{"fromEndpoints": [{"matchLabels": {"name": "app1"}}], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}]}`))
		repo.Add(rules)
		ep := resolve(t, repo, app2, ModeDefault)
		e := ep.Ingress.Entries[0]
		if len(ep.Ingress.Entries) != 1 || !e.Redirect || len(e.L7) != 2 || len(e.Rules) != 2 || e.L7[1].HTTP != nil || e.L7[1].TerminatingTLS != nil {
			t.Errorf("entries %+v", ep.Ingress.Entries)
		}
	})
	t.Run("any protocol with a port expands", func(t *testing.T) {
		ep := resolve(t, repoOf(t, `{"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": "53"}]}]}]}`), app1, ModeDefault)
		var protos []uint8
		for _, e := range ep.Ingress.Entries {
			protos = append(protos, e.Proto)
		}
		if len(protos) != 3 || protos[0] != IPProtoTCP || protos[1] != IPProtoUDP || protos[2] != IPProtoSCTP {
			t.Errorf("protocols %v", protos)
		}
	})
	t.Run("deny replaces allow on the same key", func(t *testing.T) {
		ep := resolve(t, repoOf(t, `{"endpointSelector": {}, "egress": [{"toEntities": ["world"]}], "egressDeny": [{"toEntities": ["world"]}]}`), app1, ModeDefault)
		if len(ep.Egress.Entries) != 1 || ep.Egress.Entries[0].Verdict != Deny {
			t.Errorf("entries %+v", ep.Egress.Entries)
		}
	})
	t.Run("except becomes prefixes around the hole", func(t *testing.T) {
		ep := resolve(t, repoOf(t, `{"endpointSelector": {}, "egress": [{"toCIDRSet": [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}]}]}`), app1, ModeDefault)
		if n := len(ep.Egress.Entries); n != 8 {
			t.Errorf("%d entries, want 8 (/9 .. /16 around the hole): %+v", n, ep.Egress.Entries)
		}
		for _, e := range ep.Egress.Entries {
			if !e.Peer.IsCIDR() || e.Peer.CIDR.Contains(netip.MustParseAddr("10.1.0.1")) {
				t.Errorf("entry %+v", e)
			}
		}
	})
	t.Run("enableDefaultDeny false adds allow-all", func(t *testing.T) {
		ep := resolve(t, repoOf(t, `{"endpointSelector": {}, "enableDefaultDeny": {"ingress": false}, "ingressDeny": [{"fromEntities": ["world"]}]}`), app1, ModeDefault)
		var allowAll bool
		for _, e := range ep.Ingress.Entries {
			if e.Verdict == Allow && e.Peer == (Peer{}) && e.Proto == IPProtoAny && e.AnyPort() && e.Rules[0].Index == -1 {
				allowAll = true
			}
		}
		if !allowAll {
			t.Errorf("no implicit allow-all: %+v", ep.Ingress.Entries)
		}
	})
	t.Run("selector sees new identities on the next resolve", func(t *testing.T) {
		repo := repoOf(t, `{"endpointSelector": {}, "egress": [{"toEndpoints": [{"matchLabels": {"name": "app9"}}]}]}`)
		ep := resolve(t, repo, app1, ModeDefault)
		if len(ep.Egress.Entries) != 0 || !ep.Egress.Enforced {
			t.Errorf("before: %+v", ep.Egress)
		}
		ep, err := Resolve(repo, app1, ModeDefault, append(cluster, Identity{300, []string{"container:name=app9"}}))
		if err != nil {
			t.Fatal(err)
		}
		if len(ep.Egress.Entries) != 1 || ep.Egress.Entries[0].Peer.Identity != 300 {
			t.Errorf("after: %+v", ep.Egress)
		}
	})
}

func TestResolveErrors(t *testing.T) {
	repo := NewRepository()
	if _, err := Resolve(repo, app1, "sometimes", nil); err == nil {
		t.Error("accepted mode sometimes")
	}
	if _, err := Resolve(repo, []string{"=x"}, ModeDefault, nil); err == nil {
		t.Error("accepted a malformed subject label")
	}
	if _, err := Resolve(repo, app1, ModeDefault, []Identity{{300, []string{":"}}}); err == nil {
		t.Error("accepted a malformed identity label")
	}
}
