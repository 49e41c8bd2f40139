// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policymap

import (
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"testing"

	"github.com/nori-net/nori/agent/policy"
)

const (
	tcp  = policy.IPProtoTCP
	udp  = policy.IPProtoUDP
	sctp = policy.IPProtoSCTP
	icmp = policy.IPProtoICMP
)

func allow(id uint32, proto uint8, lo, hi uint16, rule int) policy.Entry {
	return policy.Entry{Peer: policy.Peer{Identity: id}, Proto: proto, Port: lo, EndPort: hi,
		Verdict: policy.Allow, Rules: []policy.RuleRef{{Index: rule}}}
}

func deny(id uint32, proto uint8, lo, hi uint16, rule int) policy.Entry {
	e := allow(id, proto, lo, hi, rule)
	e.Verdict = policy.Deny
	return e
}

// redirect makes e an L7 allow whose rule permits GET /r<rule> only.
func redirect(e policy.Entry) policy.Entry {
	e.Redirect = true
	e.L7 = []policy.L7Policy{{Rule: e.Rules[0], HTTP: []policy.PortRuleHTTP{{Method: "GET", Path: fmt.Sprintf("/r%d", e.Rules[0].Index)}}}}
	return e
}

func cidr(e policy.Entry, p string) policy.Entry {
	e.Peer = policy.Peer{CIDR: netip.MustParsePrefix(p)}
	return e
}

func ing(id uint32, proto uint8, port uint16, bits uint8) Key {
	return Key{EndpointID: 7, Dir: DirIngress, Identity: id, Proto: proto, Port: port, PortBits: bits}
}

var (
	allowV = func(rule uint32) Value { return Value{Verdict: VerdictAllow, RuleID: rule} }
	denyV  = func(rule uint32) Value { return Value{Verdict: VerdictDeny, RuleID: rule} }
)

func cidrIDs(p netip.Prefix) []uint32 {
	switch p.String() {
	case "10.0.0.0/8":
		return []uint32{16777216, 16777217}
	case "10.1.0.0/16":
		return []uint32{16777217}
	case "192.168.0.0/16":
		return []uint32{0}
	}
	return nil
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name    string
		entries []policy.Entry
		want    map[Key]Value
		wantErr string
	}{
		{name: "enforced without entries is empty (default deny)", want: map[Key]Value{}},
		{
			name:    "any peer, TCP 80",
			entries: []policy.Entry{allow(0, tcp, 80, 80, 0)},
			want:    map[Key]Value{ing(0, tcp, 80, 16): allowV(1)},
		},
		{
			name:    "any protocol, any port is one key",
			entries: []policy.Entry{allow(256, 0, 0, 65535, 2)},
			want:    map[Key]Value{ing(256, 0, 0, 0): allowV(3)},
		},
		{
			name:    "protocol ANY with a port becomes TCP, UDP and SCTP",
			entries: []policy.Entry{allow(256, 0, 53, 53, 0)},
			want: map[Key]Value{ing(256, tcp, 53, 16): allowV(1), ing(256, udp, 53, 16): allowV(1),
				ing(256, sctp, 53, 16): allowV(1)},
		},
		{
			name:    "range becomes prefixes",
			entries: []policy.Entry{allow(0, udp, 80, 84, 0)},
			want:    map[Key]Value{ing(0, udp, 80, 14): allowV(1), ing(0, udp, 84, 16): allowV(1)},
		},
		{
			name:    "ICMP type",
			entries: []policy.Entry{allow(0, icmp, 8, 8, 0)},
			want:    map[Key]Value{ing(0, icmp, 8, 16): allowV(1)},
		},
		{
			name:    "same key allow and deny merge to deny",
			entries: []policy.Entry{allow(256, tcp, 80, 80, 0), deny(256, tcp, 80, 80, 1)},
			want:    map[Key]Value{ing(256, tcp, 80, 16): denyV(2)},
		},
		{
			name:    "allow inside a deny of the same identity is dropped",
			entries: []policy.Entry{deny(256, tcp, 0, 65535, 0), allow(256, tcp, 80, 80, 1)},
			want:    map[Key]Value{ing(256, tcp, 0, 0): denyV(1)},
		},
		{
			name:    "allow inside a wildcard deny is dropped, nothing copied",
			entries: []policy.Entry{deny(0, 0, 0, 65535, 0), allow(256, tcp, 80, 80, 1)},
			want:    map[Key]Value{ing(0, 0, 0, 0): denyV(1)},
		},
		{
			name:    "wildcard deny inside a specific allow is copied",
			entries: []policy.Entry{deny(0, tcp, 22, 22, 0), allow(256, tcp, 0, 65535, 1), allow(257, udp, 0, 65535, 2)},
			want: map[Key]Value{ing(0, tcp, 22, 16): denyV(1), ing(256, tcp, 0, 0): allowV(2),
				ing(256, tcp, 22, 16): denyV(1), ing(257, udp, 0, 0): allowV(3)},
		},
		{
			name:    "wider allow of the deny's identity keeps its deny",
			entries: []policy.Entry{allow(256, 0, 0, 65535, 0), deny(256, tcp, 443, 443, 1)},
			want:    map[Key]Value{ing(256, 0, 0, 0): allowV(1), ing(256, tcp, 443, 16): denyV(2)},
		},
		{
			name:    "redirect kept, proxy port left 0",
			entries: []policy.Entry{redirect(allow(256, tcp, 443, 443, 4))},
			want:    map[Key]Value{ing(256, tcp, 443, 16): {Verdict: VerdictAllow, Redirect: true, RuleID: 5, L7: `[{"rule":{"index":0},"http":[{"path":"/r4","method":"GET"}]}]`}},
		},
		{
			name:    "a more specific peer names the rule",
			entries: []policy.Entry{redirect(allow(0, tcp, 80, 80, 0)), allow(256, tcp, 80, 80, 1)},
			want:    map[Key]Value{ing(0, tcp, 80, 16): {Verdict: VerdictAllow, Redirect: true, RuleID: 1, L7: `[{"rule":{"index":0},"http":[{"path":"/r0","method":"GET"}]}]`}, ing(256, tcp, 80, 16): allowV(2)},
		},
		{
			// Cilium: a plain allow of the same flow lets every request
			// pass behind the proxy.
			name:    "a plain allow covering a redirect adds allow-all",
			entries: []policy.Entry{allow(0, 0, 0, 65535, 0), redirect(allow(256, tcp, 80, 80, 1))},
			want: map[Key]Value{ing(0, 0, 0, 0): allowV(1),
				ing(256, tcp, 80, 16): {Verdict: VerdictAllow, Redirect: true, RuleID: 2,
					L7: `[{"rule":{"index":0},"http":[{"path":"/r1","method":"GET"}]},{"rule":{"index":0}}]`}},
		},
		{
			name:    "the L7 of two rules on one port add up",
			entries: []policy.Entry{redirect(allow(0, tcp, 80, 80, 0)), redirect(allow(256, tcp, 80, 80, 1))},
			want: map[Key]Value{ing(0, tcp, 80, 16): {Verdict: VerdictAllow, Redirect: true, RuleID: 1, L7: `[{"rule":{"index":0},"http":[{"path":"/r0","method":"GET"}]}]`},
				ing(256, tcp, 80, 16): {Verdict: VerdictAllow, Redirect: true, RuleID: 2,
					L7: `[{"rule":{"index":0},"http":[{"path":"/r0","method":"GET"}]},{"rule":{"index":0},"http":[{"path":"/r1","method":"GET"}]}]`}},
		},
		{
			name:    "implicit allow-all has rule 0",
			entries: []policy.Entry{allow(0, 0, 0, 65535, -1)},
			want:    map[Key]Value{ing(0, 0, 0, 0): allowV(0)},
		},
		{
			name:    "CIDR peer expands to its identities",
			entries: []policy.Entry{cidr(allow(0, tcp, 80, 80, 0), "10.0.0.0/8"), cidr(deny(0, tcp, 80, 80, 1), "10.1.0.0/16")},
			want:    map[Key]Value{ing(16777216, tcp, 80, 16): allowV(1), ing(16777217, tcp, 80, 16): denyV(2)},
		},
		{
			name:    "CIDR identity 0 is an error",
			entries: []policy.Entry{cidr(allow(0, tcp, 80, 80, 0), "192.168.0.0/16")},
			wantErr: "mapped to identity 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := &policy.EndpointPolicy{Ingress: policy.DirectionPolicy{Enforced: true, Entries: tt.entries}}
			got, err := Compute(7, ep, cidrIDs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Fatalf("got\n%s\nwant\n%s", dumpKeys(got), dumpKeys(tt.want))
			}
		})
	}
}

func TestComputeDirections(t *testing.T) {
	e := []policy.Entry{allow(0, tcp, 80, 80, 0)}
	tests := []struct {
		name string
		ep   *policy.EndpointPolicy
		want map[Key]Value
	}{
		{"nil policy", nil, map[Key]Value{}},
		{"unenforced directions give no keys", &policy.EndpointPolicy{
			Ingress: policy.DirectionPolicy{Entries: e}, Egress: policy.DirectionPolicy{Entries: e}}, map[Key]Value{}},
		{"egress only", &policy.EndpointPolicy{Egress: policy.DirectionPolicy{Enforced: true, Entries: e}},
			map[Key]Value{{EndpointID: 7, Dir: DirEgress, Proto: tcp, Port: 80, PortBits: 16}: allowV(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compute(7, tt.ep, nil)
			if err != nil || !maps.Equal(got, tt.want) {
				t.Fatalf("got %v %v, want %v", got, err, tt.want)
			}
		})
	}
	ep := &policy.EndpointPolicy{Ingress: policy.DirectionPolicy{Enforced: true,
		Entries: []policy.Entry{cidr(allow(0, tcp, 80, 80, 0), "10.0.0.0/8")}}}
	if _, err := Compute(7, ep, nil); err == nil {
		t.Fatal("CIDR peer without an identity function: no error")
	}
}

// TestComputeFromResolve runs real rules through policy.Resolve, so the
// shapes the builder produces (ANY with a port, ICMP, deny sections) are
// covered as they come.
func TestComputeFromResolve(t *testing.T) {
	rules, err := policy.Parse([]byte(`[
	  {"endpointSelector": {"matchLabels": {"name": "web"}}, "labels": ["name=web"],
	   "ingress": [
	     {"fromEndpoints": [{"matchLabels": {"name": "client"}}], "toPorts": [{"ports": [{"port": "8000", "endPort": 8100}]}]},
	     {"toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}], "terminatingTLS": {"secret": {"name": "web"}}}]},
	     {"fromEntities": ["world"], "icmps": [{"fields": [{"type": 8}]}]}],
	   "ingressDeny": [{"fromEndpoints": [{}], "toPorts": [{"ports": [{"port": "8080"}]}]}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	repo := policy.NewRepository()
	repo.Add(rules)
	ids := []policy.Identity{{ID: 256, Labels: []string{"container:name=web"}}, {ID: 257, Labels: []string{"container:name=client"}}}
	ep, err := policy.Resolve(repo, ids[0].Labels, policy.ModeDefault, ids)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := Compute(3, ep, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint32{257, 258, policy.IDWorld, policy.IDHost} {
		for _, proto := range []uint8{tcp, udp, sctp, icmp, 47} {
			for port := range uint16(9000) {
				q := policy.Query{Identity: id, Proto: proto, Port: port}
				want, entry := ep.Ingress.Lookup(q)
				got, found := simLookup(keys, 3, DirIngress, id, proto, port)
				ok := found && got.Verdict == VerdictAllow
				if ok != (want == policy.Allow) || (entry != nil && got.Redirect != (want == policy.Allow && entry.Redirect)) {
					t.Fatalf("id %d proto %d port %d: Lookup %v %+v, datapath %+v %v\n%s", id, proto, port, want, entry, got, found, dumpKeys(keys))
				}
			}
		}
	}
	if v := keys[Key{EndpointID: 3, Dir: DirIngress, Identity: 257, Proto: udp, Port: 8080, PortBits: 16}]; v.Verdict != VerdictDeny {
		t.Fatalf("wildcard deny of 8080 not copied into the client's keys: %+v\n%s", v, dumpKeys(keys))
	}
}

func TestDiff(t *testing.T) {
	k1, k2, k3 := ing(0, tcp, 80, 16), ing(256, tcp, 0, 0), ing(257, udp, 53, 16)
	old := map[Key]Value{k1: allowV(1), k2: allowV(2), k3: denyV(3)}
	tests := []struct {
		name        string
		new         map[Key]Value
		wantUpserts map[Key]Value
		wantDeletes []Key
	}{
		{"unchanged", maps.Clone(old), map[Key]Value{}, nil},
		{"value changed", map[Key]Value{k1: denyV(1), k2: allowV(2), k3: denyV(3)}, map[Key]Value{k1: denyV(1)}, nil},
		{"redirect changed", map[Key]Value{k1: {Verdict: VerdictAllow, RuleID: 1, Redirect: true}, k2: allowV(2), k3: denyV(3)},
			map[Key]Value{k1: {Verdict: VerdictAllow, RuleID: 1, Redirect: true}}, nil},
		{"all deleted", nil, map[Key]Value{}, []Key{k1, k2, k3}},
		{"added and deleted", map[Key]Value{k2: allowV(2), ing(258, tcp, 1, 16): allowV(9)},
			map[Key]Value{ing(258, tcp, 1, 16): allowV(9)}, []Key{k1, k3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, del := Diff(old, tt.new)
			if !maps.Equal(up, tt.wantUpserts) || len(del) != len(tt.wantDeletes) {
				t.Fatalf("Diff = %v %v, want %v %v", up, del, tt.wantUpserts, tt.wantDeletes)
			}
			for i := range del {
				if del[i] != tt.wantDeletes[i] {
					t.Fatalf("deletes = %v, want %v", del, tt.wantDeletes)
				}
			}
		})
	}
}
