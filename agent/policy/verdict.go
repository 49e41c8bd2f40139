// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
)

// Verdict is what an entry decides.
type Verdict uint8

// Verdicts. The zero value is no verdict, so a forgotten field is visible.
const (
	Allow Verdict = iota + 1
	Deny
)

// MarshalText writes "allow" or "deny" for `-o json`.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

func (v Verdict) String() string {
	switch v {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// Peer is the other end of a flow: an identity (0 = any) or, for CIDR
// rules, a prefix the agent maps to identities itself.
type Peer struct {
	Identity uint32 `json:"identity"`
	// CIDR is valid only for CIDR peers; Identity is then 0 and unused.
	CIDR netip.Prefix `json:"cidr,omitzero"`
}

// IsCIDR reports whether the peer is a prefix.
func (p Peer) IsCIDR() bool { return p.CIDR.IsValid() }

func (p Peer) String() string {
	switch {
	case p.IsCIDR():
		return p.CIDR.String()
	case p.Identity == IDAny:
		return "any"
	}
	return strconv.FormatUint(uint64(p.Identity), 10)
}

// RuleRef names a rule for `policy trace`: its index in the repository
// and its labels. Index -1 is the allow-all Nori adds when every selecting
// rule sets enableDefaultDeny false for the direction.
type RuleRef struct {
	Index  int      `json:"index"`
	Labels []string `json:"labels,omitempty"`
}

func (r RuleRef) String() string {
	if r.Index < 0 {
		return "implicit allow-all (enableDefaultDeny false)"
	}
	if len(r.Labels) == 0 {
		return fmt.Sprintf("rule %d (no labels)", r.Index)
	}
	return fmt.Sprintf("rule %d %v", r.Index, r.Labels)
}

// L7Policy is what the proxy applies for one allowing rule. A policy
// without HTTP rules allows every request; it appears when a plain L4
// allow and an L7 rule cover the same key, because the plain allow must
// keep working behind the proxy (Cilium does the same).
type L7Policy struct {
	Rule           RuleRef        `json:"rule"`
	HTTP           []PortRuleHTTP `json:"http,omitempty"`
	TerminatingTLS *TLSContext    `json:"terminatingTLS,omitempty"`
	OriginatingTLS *TLSContext    `json:"originatingTLS,omitempty"`
	ServerNames    []string       `json:"serverNames,omitempty"`
}

// Entry is one policy map entry: the key (peer, protocol, port range) and
// what it decides. Keys are unique within a direction. Port..EndPort is
// inclusive; 0..65535 means every port. For ICMP the "port" is the ICMP
// type.
type Entry struct {
	Peer     Peer       `json:"peer"`
	Proto    uint8      `json:"proto"`
	Port     uint16     `json:"port"`
	EndPort  uint16     `json:"endPort"`
	Verdict  Verdict    `json:"verdict"`
	Redirect bool       `json:"redirect,omitempty"` // to the L7/TLS proxy
	L7       []L7Policy `json:"l7,omitempty"`       // set when Redirect
	Rules    []RuleRef  `json:"rules"`              // the rules that produced the entry
}

// AnyPort reports whether the entry covers every port.
func (e Entry) AnyPort() bool { return e.Port == 0 && e.EndPort == 65535 }

// specificity orders matching entries for explanations: an exact peer
// beats any, a protocol beats any, a narrower port range beats a wider.
func (e Entry) specificity() (int, int, int) {
	peer := 0
	if e.Peer.IsCIDR() {
		peer = 1 + e.Peer.CIDR.Bits()
	} else if e.Peer.Identity != IDAny {
		peer = 200
	}
	proto := 0
	if e.Proto != IPProtoAny {
		proto = 1
	}
	return peer, proto, -int(e.EndPort - e.Port)
}

// DirectionPolicy is an endpoint's policy in one direction.
type DirectionPolicy struct {
	// Enforced false means everything passes and Entries is empty.
	Enforced bool    `json:"enforced"`
	Entries  []Entry `json:"entries,omitempty"`
}

// Query is one flow as the datapath sees it, from the endpoint's side: the
// peer's identity and address, protocol and the port (the destination port
// on the endpoint for ingress, on the peer for egress; the ICMP type).
type Query struct {
	Identity uint32
	Addr     netip.Addr // optional; matched against CIDR entries
	Proto    uint8
	Port     uint16
}

func (e Entry) matches(q Query) bool {
	if e.Peer.IsCIDR() {
		if !q.Addr.IsValid() || !e.Peer.CIDR.Contains(q.Addr) {
			return false
		}
	} else if e.Peer.Identity != IDAny && e.Peer.Identity != q.Identity {
		return false
	}
	if e.Proto != IPProtoAny && e.Proto != q.Proto {
		return false
	}
	return q.Port >= e.Port && q.Port <= e.EndPort
}

// Lookup decides a flow the way the datapath must: not enforced → allow;
// any matching deny entry → deny (deny beats allow regardless of
// specificity); else any matching allow → allow; else deny by default.
// The returned entry is the deciding one (the most specific of its kind),
// nil for the unenforced and default-deny cases.
func (d DirectionPolicy) Lookup(q Query) (Verdict, *Entry) {
	if !d.Enforced {
		return Allow, nil
	}
	var best [3]*Entry // indexed by Verdict
	for i := range d.Entries {
		e := &d.Entries[i]
		if !e.matches(q) {
			continue
		}
		if b := best[e.Verdict]; b == nil || moreSpecific(e, b) {
			best[e.Verdict] = e
		}
	}
	if best[Deny] != nil {
		return Deny, best[Deny]
	}
	if best[Allow] != nil {
		return Allow, best[Allow]
	}
	return Deny, nil
}

func moreSpecific(a, b *Entry) bool {
	ap, aq, ar := a.specificity()
	bp, bq, br := b.specificity()
	return cmp.Or(cmp.Compare(ap, bp), cmp.Compare(aq, bq), cmp.Compare(ar, br)) > 0
}

// EndpointPolicy is the resolved policy of one identity.
type EndpointPolicy struct {
	Ingress DirectionPolicy `json:"ingress"`
	Egress  DirectionPolicy `json:"egress"`
	// Revision is the repository revision the policy was computed from.
	Revision uint64 `json:"revision"`
}

func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		return cmp.Or(
			cmp.Compare(a.Peer.Identity, b.Peer.Identity),
			a.Peer.CIDR.Addr().Compare(b.Peer.CIDR.Addr()),
			cmp.Compare(a.Peer.CIDR.Bits(), b.Peer.CIDR.Bits()),
			cmp.Compare(a.Proto, b.Proto),
			cmp.Compare(a.Port, b.Port),
			cmp.Compare(a.EndPort, b.EndPort))
	})
}

// UnmarshalText reads what MarshalText wrote, so API clients can decode
// entries.
func (v *Verdict) UnmarshalText(b []byte) error {
	switch string(b) {
	case "allow":
		*v = Allow
	case "deny":
		*v = Deny
	default:
		return fmt.Errorf("parse verdict %q: want allow or deny", b)
	}
	return nil
}
