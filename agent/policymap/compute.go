// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policymap

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/nori-net/nori/agent/policy"
)

// CIDRIdentities returns the identities a flow from or to an address in
// prefix can carry: the local CIDR identity of prefix itself and of every
// allocated prefix inside it (the datapath takes a peer's identity from
// the longest ipcache prefix). The agent allocates an identity for every
// prefix a rule names before calling Compute. It must never return 0.
type CIDRIdentities func(netip.Prefix) []uint32

// anyProtos are the protocols a port of protocol ANY stands for, as in
// Cilium: an LPM key cannot wildcard the protocol and keep the port.
var anyProtos = []uint8{policy.IPProtoTCP, policy.IPProtoUDP, policy.IPProtoSCTP}

// Compute returns every policy map key of endpoint epID for ep. A
// direction that is not enforced yields no keys (the agent marks the
// endpoint unenforced in that direction instead); an enforced direction
// without entries yields none either, which the datapath reads as deny.
// CIDR peers become the identities cidrIdentities returns (none yet: the
// entry has no keys); it may be nil when ep has no CIDR peers.
func Compute(epID uint16, ep *policy.EndpointPolicy, cidrIdentities CIDRIdentities) (map[Key]Value, error) {
	out := map[Key]Value{}
	if ep == nil {
		return out, nil
	}
	for _, d := range []struct {
		dir uint8
		dp  *policy.DirectionPolicy
	}{{DirIngress, &ep.Ingress}, {DirEgress, &ep.Egress}} {
		if !d.dp.Enforced {
			continue
		}
		if err := computeDir(out, epID, d.dir, d.dp.Entries, cidrIdentities); err != nil {
			return nil, fmt.Errorf("compute policy map of endpoint %d: %w", epID, err)
		}
	}
	return out, nil
}

// atom is one LPM region of one entry.
type atom struct {
	proto uint8 // 0: every protocol (bits is then 0)
	port  uint16
	bits  uint8
	entry int // index into the direction's entries
	deny  bool
}

// covers reports whether a's region contains b's.
func (a atom) covers(b atom) bool {
	if a.proto == 0 {
		return true
	}
	if a.proto != b.proto || a.bits > b.bits {
		return false
	}
	shift := 16 - uint(a.bits)
	return uint32(a.port)>>shift == uint32(b.port)>>shift
}

type region struct {
	proto uint8
	port  uint16
	bits  uint8
}

func (a atom) region() region { return region{a.proto, a.port, a.bits} }

func atomsOf(i int, e policy.Entry) []atom {
	deny := e.Verdict == policy.Deny
	if e.Proto == policy.IPProtoAny && e.AnyPort() {
		return []atom{{entry: i, deny: deny}}
	}
	protos := []uint8{e.Proto}
	if e.Proto == policy.IPProtoAny {
		protos = anyProtos
	}
	var out []atom
	for _, p := range protos {
		for _, pp := range policy.PortPrefixes(e.Port, e.EndPort) {
			out = append(out, atom{proto: p, port: pp.Port, bits: pp.Bits, entry: i, deny: deny})
		}
	}
	return out
}

func computeDir(out map[Key]Value, epID uint16, dir uint8, entries []policy.Entry, cidrIdentities CIDRIdentities) error {
	var anyAtoms []atom
	byID := map[uint32][]atom{}
	for i, e := range entries {
		if e.Verdict != policy.Allow && e.Verdict != policy.Deny {
			return fmt.Errorf("entry %d: invalid verdict %d", i, e.Verdict)
		}
		as := atomsOf(i, e)
		switch {
		case e.Peer.IsCIDR():
			if cidrIdentities == nil {
				return fmt.Errorf("entry %d: CIDR peer %s: %w", i, e.Peer.CIDR, errNoCIDRFunc)
			}
			seen := map[uint32]bool{}
			for _, id := range cidrIdentities(e.Peer.CIDR) {
				if id == policy.IDAny {
					return fmt.Errorf("entry %d: CIDR peer %s mapped to identity 0", i, e.Peer.CIDR)
				}
				if !seen[id] {
					seen[id] = true
					byID[id] = append(byID[id], as...)
				}
			}
		case e.Peer.Identity == policy.IDAny:
			anyAtoms = append(anyAtoms, as...)
		default:
			byID[e.Peer.Identity] = append(byID[e.Peer.Identity], as...)
		}
	}
	var anyDenies []atom
	for _, a := range anyAtoms {
		if a.deny {
			anyDenies = append(anyDenies, a)
		}
	}
	emit(out, epID, dir, policy.IDAny, entries, reduce(anyAtoms, nil), anyAtoms)
	for id, own := range byID {
		kept := reduce(own, anyDenies)
		// Candidates for the values: everything that applies to id, so
		// a key names the entry Lookup would name.
		emit(out, epID, dir, id, entries, kept, append(own[:len(own):len(own)], anyAtoms...))
	}
	return nil
}

var errNoCIDRFunc = errors.New("no CIDR identity function given")

// reduce returns the atoms of one identity's key set: own atoms minus the
// allows covered by a deny (own or wildcard), plus the wildcard denies that
// lie inside a remaining allow. A wildcard deny elsewhere needs no copy:
// where no key of the identity matches, the datapath falls back to the
// identity-0 keys, which hold it.
func reduce(own, anyDenies []atom) []atom {
	var denies []atom
	for _, a := range own {
		if a.deny {
			denies = append(denies, a)
		}
	}
	denies = append(denies, anyDenies...)
	var allows []atom
	for _, a := range own {
		if a.deny {
			continue
		}
		covered := false
		for _, d := range denies {
			if d.covers(a) {
				covered = true
				break
			}
		}
		if !covered {
			allows = append(allows, a)
		}
	}
	out := allows
	for _, a := range own {
		if a.deny {
			out = append(out, a)
		}
	}
	for _, d := range anyDenies {
		for _, a := range allows {
			if a.covers(d) {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// emit writes one key per distinct region of kept: deny when any atom of
// the region denies. The value comes from the most specific entry of that
// verdict among cands covering the region, first one on ties, the order
// policy.DirectionPolicy.Lookup uses to name its deciding entry.
func emit(out map[Key]Value, epID uint16, dir uint8, id uint32, entries []policy.Entry, kept, cands []atom) {
	verdicts := map[region]bool{} // region → deny
	var order []region
	for _, a := range kept {
		r := a.region()
		d, seen := verdicts[r]
		if !seen {
			order = append(order, r)
		}
		verdicts[r] = d || a.deny
	}
	for _, r := range order {
		deny := verdicts[r]
		probe := atom{proto: r.proto, port: r.port, bits: r.bits}
		best := -1
		for _, c := range cands {
			if c.deny != deny || !c.covers(probe) {
				continue
			}
			if best < 0 || (c.entry < best && !moreSpecific(&entries[best], &entries[c.entry])) ||
				(c.entry > best && moreSpecific(&entries[c.entry], &entries[best])) {
				best = c.entry
			}
		}
		v := Value{Verdict: VerdictAllow}
		if deny {
			v.Verdict = VerdictDeny
		}
		if best >= 0 {
			e := &entries[best]
			v.Redirect = !deny && e.Redirect
			v.RuleID = ruleID(e.Rules)
		}
		if v.Redirect {
			v.L7 = l7Of(entries, cands, probe)
		}
		out[Key{EndpointID: epID, Dir: dir, Identity: id, Proto: r.proto, Port: r.port, PortBits: r.bits}] = v
	}
}

// ruleID is the cookie events carry: the first rule's index + 1, so 0 is
// the implicit allow-all (index -1) or no rule.
func ruleID(refs []policy.RuleRef) uint32 {
	if len(refs) == 0 || refs[0].Index < 0 {
		return 0
	}
	return uint32(refs[0].Index) + 1
}

// specificity ranks entries as policy.Entry's unexported ordering does: an
// exact identity beats a CIDR (longer first), which beats any; a protocol
// beats any; a narrower port range beats a wider one.
func specificity(e *policy.Entry) (int, int, int) {
	peer := 0
	if e.Peer.IsCIDR() {
		peer = 1 + e.Peer.CIDR.Bits()
	} else if e.Peer.Identity != policy.IDAny {
		peer = 200
	}
	proto := 0
	if e.Proto != policy.IPProtoAny {
		proto = 1
	}
	return peer, proto, -int(e.EndPort - e.Port)
}

func moreSpecific(a, b *policy.Entry) bool {
	ap, aq, ar := specificity(a)
	bp, bq, br := specificity(b)
	if ap != bp {
		return ap > bp
	}
	if aq != bq {
		return aq > bq
	}
	return ar > br
}
