// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Trace identities stand in for label sets no known identity has; they sit
// above every cluster's range so they cannot collide.
const (
	traceSrcID uint32 = 0xfffffe
	traceDstID uint32 = 0xfffffd
)

// TraceStep is one side's decision: the source's egress or the
// destination's ingress.
type TraceStep struct {
	Enforced bool
	Verdict  Verdict
	// Entry is the deciding entry; nil when not enforced or denied by
	// default.
	Entry *Entry
}

// TraceResult explains the verdict on a flow from src to dst.
type TraceResult struct {
	Verdict Verdict
	Egress  TraceStep
	Ingress TraceStep
	// Lines are the explanation `nori policy trace` prints.
	Lines []string
}

func (t TraceResult) String() string { return strings.Join(t.Lines, "\n") }

// Trace decides a flow from an endpoint with labels src to one with
// labels dst on proto/port (the ICMP type for ICMP), running the same
// resolution the datapath entries come from. A "cidr:<prefix>" label in
// src or dst gives that side an address, so CIDR rules can be traced.
func Trace(repo *Repository, src, dst []string, proto uint8, port uint16, mode Mode, identities []Identity) (TraceResult, error) {
	var t TraceResult
	srcID, ids, err := traceIdentity(src, traceSrcID, identities)
	if err != nil {
		return t, fmt.Errorf("trace: source: %w", err)
	}
	dstID, ids, err := traceIdentity(dst, traceDstID, ids)
	if err != nil {
		return t, fmt.Errorf("trace: destination: %w", err)
	}
	srcPol, err := Resolve(repo, src, mode, ids)
	if err != nil {
		return t, fmt.Errorf("trace: %w", err)
	}
	dstPol, err := Resolve(repo, dst, mode, ids)
	if err != nil {
		return t, fmt.Errorf("trace: %w", err)
	}
	t.Lines = append(t.Lines, fmt.Sprintf("Tracing %s -> %s %s (policy revision %d, mode %s)",
		labelList(src, srcID), labelList(dst, dstID), protoPort(proto, port), srcPol.Revision, mode))

	// Rules apply to endpoints only: a world or CIDR side has no policy of
	// its own, even though endpointSelector {} matches its labels.
	if isOutside(src) {
		srcPol.Egress = DirectionPolicy{}
		t.Lines = append(t.Lines, "  the source is outside the cluster: no egress policy of its own")
	}
	if isOutside(dst) {
		dstPol.Ingress = DirectionPolicy{}
		t.Lines = append(t.Lines, "  the destination is outside the cluster: no ingress policy of its own")
	}
	t.Egress = step(srcPol.Egress, Query{Identity: dstID, Addr: cidrAddr(dst), Proto: proto, Port: port})
	t.Lines = append(t.Lines, explain("egress of the source", t.Egress)...)
	t.Ingress = step(dstPol.Ingress, Query{Identity: srcID, Addr: cidrAddr(src), Proto: proto, Port: port})
	t.Lines = append(t.Lines, explain("ingress of the destination", t.Ingress)...)

	t.Verdict = Allow
	if t.Egress.Verdict == Deny || t.Ingress.Verdict == Deny {
		t.Verdict = Deny
	}
	final := "Final verdict: ALLOWED"
	if t.Verdict == Deny {
		final = "Final verdict: DENIED"
	}
	if e := decidingEntry(t); e != nil && e.Redirect {
		final += " (L3/L4; the request then passes the L7/TLS proxy)"
	}
	t.Lines = append(t.Lines, final)
	return t, nil
}

func isOutside(ss []string) bool {
	ls, err := identityLabels(ss)
	return err == nil && isWorld(ls)
}

func step(d DirectionPolicy, q Query) TraceStep {
	v, e := d.Lookup(q)
	return TraceStep{Enforced: d.Enforced, Verdict: v, Entry: e}
}

func decidingEntry(t TraceResult) *Entry {
	if t.Ingress.Entry != nil {
		return t.Ingress.Entry
	}
	return t.Egress.Entry
}

func explain(what string, s TraceStep) []string {
	switch {
	case !s.Enforced:
		return []string{fmt.Sprintf("  %s: policy not enforced, allowed", what)}
	case s.Entry == nil:
		return []string{fmt.Sprintf("  %s: enforced, no rule matches: denied by default", what)}
	}
	e := s.Entry
	refs := make([]string, len(e.Rules))
	for i, r := range e.Rules {
		refs[i] = r.String()
	}
	line := fmt.Sprintf("  %s: %s by %s (peer %s, %s)", what, verdictWord(s.Verdict), strings.Join(refs, ", "),
		e.Peer, entryL4(*e))
	if e.Redirect {
		line += ", redirected to the proxy"
	}
	return []string{line}
}

func verdictWord(v Verdict) string {
	if v == Deny {
		return "denied"
	}
	return "allowed"
}

func entryL4(e Entry) string {
	proto := protoName(e.Proto)
	switch {
	case e.AnyPort():
		return proto + " any port"
	case e.Port == e.EndPort:
		return fmt.Sprintf("%s %d", proto, e.Port)
	}
	return fmt.Sprintf("%s %d-%d", proto, e.Port, e.EndPort)
}

func protoName(p uint8) string {
	switch p {
	case IPProtoAny:
		return "any"
	case IPProtoTCP:
		return "TCP"
	case IPProtoUDP:
		return "UDP"
	case IPProtoSCTP:
		return "SCTP"
	case IPProtoICMP:
		return "ICMP"
	case IPProtoICMPv6:
		return "ICMPv6"
	}
	return fmt.Sprintf("proto %d", p)
}

func protoPort(proto uint8, port uint16) string {
	if proto == IPProtoICMP || proto == IPProtoICMPv6 {
		return fmt.Sprintf("%s type %d", protoName(proto), port)
	}
	return fmt.Sprintf("%d/%s", port, protoName(proto))
}

func labelList(ls []string, id uint32) string {
	s := "[" + strings.Join(ls, " ") + "]"
	if id != traceSrcID && id != traceDstID {
		s += fmt.Sprintf(" (identity %d)", id)
	}
	return s
}

// traceIdentity finds the identity with exactly these labels among the
// known and reserved ones, or adds a stand-in one so selectors see it.
func traceIdentity(ls []string, standIn uint32, ids []Identity) (uint32, []Identity, error) {
	want, err := identityLabels(ls)
	if err != nil {
		return 0, nil, err
	}
	canon := canonical(want)
	for _, id := range slices.Concat(reservedIdentities, ids) {
		have, err := identityLabels(id.Labels)
		if err == nil && slices.Equal(canonical(have), canon) {
			return id.ID, ids, nil
		}
	}
	return standIn, append(slices.Clip(ids), Identity{ID: standIn, Labels: ls}), nil
}

func canonical(ls Labels) []string {
	s := ls.Strings()
	slices.Sort(s)
	return slices.Compact(s)
}

func cidrAddr(ls []string) netip.Addr {
	for _, s := range ls {
		if rest, ok := strings.CutPrefix(s, SourceCIDR+":"); ok {
			if p, err := toPrefix(rest); err == nil {
				return p.Addr()
			}
		}
	}
	return netip.Addr{}
}
