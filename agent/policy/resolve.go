// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"fmt"
	"net/netip"
	"slices"
)

// Mode is the agent's policy enforcement mode (--enable-policy).
type Mode string

// Enforcement modes, as in Cilium.
const (
	ModeDefault Mode = "default"
	ModeAlways  Mode = "always"
	ModeNever   Mode = "never"
)

// ParseMode checks a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeDefault, ModeAlways, ModeNever:
		return m, nil
	}
	return "", fmt.Errorf("policy enforcement mode %q: want default, always or never", s)
}

// known is the identity universe of one resolution, parsed once.
type known struct {
	ids    []uint32
	labels []Labels
}

func newKnown(ids []Identity) (*known, error) {
	k := &known{}
	seen := map[uint32]bool{}
	// Reserved identities always exist, whether or not the caller lists
	// them, so entities work from the first rule on.
	for _, id := range slices.Concat(reservedIdentities, ids) {
		if seen[id.ID] {
			continue
		}
		seen[id.ID] = true
		ls, err := identityLabels(id.Labels)
		if err != nil {
			return nil, fmt.Errorf("identity %d: %w", id.ID, err)
		}
		k.ids = append(k.ids, id.ID)
		k.labels = append(k.labels, ls)
	}
	return k, nil
}

// Resolve computes the policy of the identity with labels subject, given
// the enforcement mode and every identity currently known (reserved ones
// are added). Selectors are evaluated against known identities only: the
// agent calls Resolve again when identities appear or go away.
func Resolve(repo *Repository, subject []string, mode Mode, identities []Identity) (*EndpointPolicy, error) {
	if _, err := ParseMode(string(mode)); err != nil {
		return nil, err
	}
	subj, err := identityLabels(subject)
	if err != nil {
		return nil, fmt.Errorf("resolve policy: %w", err)
	}
	k, err := newKnown(identities)
	if err != nil {
		return nil, fmt.Errorf("resolve policy: %w", err)
	}
	repo.mu.RLock()
	rules, rev := repo.rules, repo.revision
	repo.mu.RUnlock()
	ep := &EndpointPolicy{Revision: rev}
	// Cilium enforces nothing in never mode, and nothing on the host
	// without its host firewall, which Nori does not have.
	if mode == ModeNever || hasReserved(subj, "host") {
		return ep, nil
	}
	var selecting []int
	for i, r := range rules {
		if r.EndpointSelector.Matches(subj) {
			selecting = append(selecting, i)
		}
	}
	// An endpoint without labels yet must not talk to anybody
	// (reserved:init is default-deny both ways in Cilium).
	force := mode == ModeAlways || hasReserved(subj, "init")
	ep.Ingress = resolveDir(rules, selecting, k, true, force)
	ep.Egress = resolveDir(rules, selecting, k, false, force)
	return ep, nil
}

func resolveDir(rules []Rule, selecting []int, k *known, ingress, force bool) DirectionPolicy {
	b := newBuilder()
	hasRules, defaultDeny := false, false
	for _, i := range selecting {
		r := &rules[i]
		ref := RuleRef{Index: i, Labels: r.Labels.Strings()}
		dd := r.EnableDefaultDeny.Egress
		n := len(r.Egress) + len(r.EgressDeny)
		if ingress {
			dd = r.EnableDefaultDeny.Ingress
			n = len(r.Ingress) + len(r.IngressDeny)
		}
		if n == 0 {
			continue
		}
		hasRules = true
		if dd == nil || *dd {
			defaultDeny = true
		}
		// A section with neither peers nor ports ("ingress": [{}]) selects
		// nothing, as in Cilium: it only turns enforcement on.
		if ingress {
			for _, ir := range r.Ingress {
				if ir.peers().empty() && len(ir.ToPorts) == 0 && len(ir.ICMPs) == 0 {
					continue
				}
				b.allow(ref, peersOf(ir.peers(), k), ir.ToPorts, ir.ICMPs)
			}
			for _, dr := range r.IngressDeny {
				if dr.peers().empty() && len(dr.ToPorts) == 0 && len(dr.ICMPs) == 0 {
					continue
				}
				b.deny(ref, peersOf(dr.peers(), k), dr.ToPorts, dr.ICMPs)
			}
		} else {
			for _, er := range r.Egress {
				if er.peers().empty() && len(er.ToPorts) == 0 && len(er.ICMPs) == 0 {
					continue
				}
				b.allow(ref, peersOf(er.peers(), k), er.ToPorts, er.ICMPs)
			}
			for _, dr := range r.EgressDeny {
				if dr.peers().empty() && len(dr.ToPorts) == 0 && len(dr.ICMPs) == 0 {
					continue
				}
				b.deny(ref, peersOf(dr.peers(), k), dr.ToPorts, dr.ICMPs)
			}
		}
	}
	if !hasRules && !force {
		return DirectionPolicy{}
	}
	if hasRules && !defaultDeny && !force {
		// Every selecting rule opted out of default deny: only its deny
		// and L7 parts take effect, the rest stays open.
		b.add(key{peer: Peer{}, proto: IPProtoAny, port: 0, end: 65535}, Allow, RuleRef{Index: -1}, nil)
	}
	return DirectionPolicy{Enforced: true, Entries: b.entries()}
}

// peersOf lists the peers an L3 section selects. No L3 field at all means
// any peer (a ports-only rule); a section whose selectors match no known
// identity yields no peers and so allows nothing yet.
func peersOf(p l3, k *known) []Peer {
	if p.empty() {
		return []Peer{{}}
	}
	set := map[Peer]bool{}
	var out []Peer
	add := func(pe Peer) {
		if !set[pe] {
			set[pe] = true
			out = append(out, pe)
		}
	}
	for _, sel := range p.Endpoints {
		if sel.IsWildcard() {
			// Cilium's wildcard selector: every identity, world included
			// (under Kubernetes a namespace label narrows it; Nori has none).
			add(Peer{})
			continue
		}
		for i, ls := range k.labels {
			if sel.Matches(ls) {
				add(Peer{Identity: k.ids[i]})
			}
		}
	}
	for _, e := range p.Entities {
		if e == EntityAll {
			add(Peer{})
			continue
		}
		for i, ls := range k.labels {
			if entitySelects(e, ls) {
				add(Peer{Identity: k.ids[i]})
			}
		}
	}
	// Parse validated the prefixes; a rule built in Go that skipped Parse
	// loses its bad prefixes rather than crashing the agent.
	for _, c := range p.CIDR {
		if pf, err := toPrefix(c); err == nil {
			add(Peer{CIDR: pf})
		}
	}
	for _, cs := range p.CIDRSet {
		outer, err := toPrefix(cs.CIDR)
		if err != nil {
			continue
		}
		var ex []netip.Prefix
		for _, e := range cs.Except {
			if pf, err := toPrefix(e); err == nil {
				ex = append(ex, pf)
			}
		}
		for _, pf := range subtractPrefixes(outer, ex) {
			add(Peer{CIDR: pf})
		}
	}
	return out
}
