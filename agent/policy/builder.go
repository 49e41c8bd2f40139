// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import "strconv"

// key is a policy map key; entries are merged per key.
type key struct {
	peer      Peer
	proto     uint8
	port, end uint16
}

// slot collects what the rules say about one key.
type slot struct {
	denyRefs  []RuleRef
	allowRefs []RuleRef
	l7        []*L7Policy // parallel to allowRefs; nil = plain L4 allow
}

// builder merges rule sections into unique-key entries: a deny on a key
// drops the allows on the same key (deny beats allow), and several allows
// on a key become one entry.
type builder struct {
	slots map[key]*slot
	order []key
}

func newBuilder() *builder { return &builder{slots: map[key]*slot{}} }

func (b *builder) add(k key, v Verdict, ref RuleRef, l7 *L7Policy) {
	s := b.slots[k]
	if s == nil {
		s = &slot{}
		b.slots[k] = s
		b.order = append(b.order, k)
	}
	if v == Deny {
		s.denyRefs = appendRef(s.denyRefs, ref)
		return
	}
	s.allowRefs = append(s.allowRefs, ref)
	s.l7 = append(s.l7, l7)
}

func appendRef(refs []RuleRef, r RuleRef) []RuleRef {
	for _, x := range refs {
		if x.Index == r.Index {
			return refs
		}
	}
	return append(refs, r)
}

// portKeys expands a toPorts port into (proto, range) keys. ANY with a
// port becomes TCP, UDP and SCTP, as in Cilium, so a key's protocol is
// never "any" together with a port.
func portKeys(p PortProtocol) [][3]uint16 {
	lo, hi := uint16(0), uint16(65535)
	if n, err := strconv.ParseUint(p.Port, 10, 16); err == nil && n != 0 {
		lo, hi = uint16(n), uint16(n)
		if p.EndPort > int32(n) && p.EndPort <= 65535 {
			hi = uint16(p.EndPort)
		}
	}
	var protos []uint8
	switch p.Protocol {
	case ProtoTCP:
		protos = []uint8{IPProtoTCP}
	case ProtoUDP:
		protos = []uint8{IPProtoUDP}
	case ProtoSCTP:
		protos = []uint8{IPProtoSCTP}
	default:
		if lo == 0 && hi == 65535 {
			protos = []uint8{IPProtoAny}
		} else {
			protos = []uint8{IPProtoTCP, IPProtoUDP, IPProtoSCTP}
		}
	}
	out := make([][3]uint16, 0, len(protos))
	for _, pr := range protos {
		out = append(out, [3]uint16{uint16(pr), lo, hi})
	}
	return out
}

func icmpKeys(icmps []ICMPRule) [][3]uint16 {
	var out [][3]uint16
	for _, r := range icmps {
		for _, f := range r.Fields {
			proto := IPProtoICMP
			if f.Family == "IPv6" {
				proto = IPProtoICMPv6
			}
			out = append(out, [3]uint16{uint16(proto), uint16(f.Type), uint16(f.Type)})
		}
	}
	return out
}

var anyL4 = [][3]uint16{{uint16(IPProtoAny), 0, 65535}}

func (b *builder) allow(ref RuleRef, peers []Peer, ports []PortRule, icmps []ICMPRule) {
	type l4 struct {
		k  [3]uint16
		l7 *L7Policy
	}
	var keys []l4
	for _, pr := range ports {
		var l7 *L7Policy
		if pr.redirects() {
			l7 = &L7Policy{Rule: ref, TerminatingTLS: pr.TerminatingTLS, OriginatingTLS: pr.OriginatingTLS,
				ServerNames: pr.ServerNames}
			if pr.Rules != nil {
				l7.HTTP = pr.Rules.HTTP
			}
		}
		if len(pr.Ports) == 0 {
			keys = append(keys, l4{anyL4[0], l7})
		}
		for _, p := range pr.Ports {
			for _, k := range portKeys(p) {
				keys = append(keys, l4{k, l7})
			}
		}
	}
	for _, k := range icmpKeys(icmps) {
		keys = append(keys, l4{k: k})
	}
	if len(ports) == 0 && len(icmps) == 0 {
		keys = append(keys, l4{k: anyL4[0]})
	}
	for _, pe := range peers {
		for _, k := range keys {
			b.add(key{pe, uint8(k.k[0]), k.k[1], k.k[2]}, Allow, ref, k.l7)
		}
	}
}

func (b *builder) deny(ref RuleRef, peers []Peer, ports []PortDenyRule, icmps []ICMPRule) {
	var keys [][3]uint16
	for _, pr := range ports {
		if len(pr.Ports) == 0 {
			keys = append(keys, anyL4...)
		}
		for _, p := range pr.Ports {
			keys = append(keys, portKeys(p)...)
		}
	}
	keys = append(keys, icmpKeys(icmps)...)
	if len(ports) == 0 && len(icmps) == 0 {
		keys = anyL4
	}
	for _, pe := range peers {
		for _, k := range keys {
			b.add(key{pe, uint8(k[0]), k[1], k[2]}, Deny, ref, nil)
		}
	}
}

func (b *builder) entries() []Entry {
	out := make([]Entry, 0, len(b.order))
	for _, k := range b.order {
		s := b.slots[k]
		e := Entry{Peer: k.peer, Proto: k.proto, Port: k.port, EndPort: k.end}
		if len(s.denyRefs) > 0 {
			e.Verdict, e.Rules = Deny, s.denyRefs
			out = append(out, e)
			continue
		}
		e.Verdict = Allow
		for i, ref := range s.allowRefs {
			e.Rules = appendRef(e.Rules, ref)
			if s.l7[i] != nil {
				e.Redirect = true
			}
		}
		if e.Redirect {
			for i, ref := range s.allowRefs {
				if l7 := s.l7[i]; l7 != nil {
					e.L7 = append(e.L7, *l7)
				} else {
					e.L7 = append(e.L7, L7Policy{Rule: ref})
				}
			}
		}
		out = append(out, e)
	}
	sortEntries(out)
	return out
}
