// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"net/netip"
	"strings"
	"time"

	"github.com/nori-net/nori/agent/datapath/bpfobj"
)

// CTFlags are the state flags of a conntrack entry.
type CTFlags uint32

// Conntrack flags, as in bpf/lib/maps.h.
const (
	// CTReply marks the entry of a flow's reply direction.
	CTReply = CTFlags(bpfobj.DatapathNoriCtFlagsNORI_CT_F_REPLY)
	// CTSeenReply: the flow has seen a reply (TCP: established).
	CTSeenReply = CTFlags(bpfobj.DatapathNoriCtFlagsNORI_CT_F_SEEN_REPLY)
	// CTClosing: a TCP FIN or RST was seen.
	CTClosing = CTFlags(bpfobj.DatapathNoriCtFlagsNORI_CT_F_CLOSING)
	// CTProxyNetns: ProxyPort names a listener in the destination's
	// netns (sk_lookup), not the node's.
	CTProxyNetns = CTFlags(bpfobj.DatapathNoriCtFlagsNORI_CT_F_PROXY_NETNS)
)

func (f CTFlags) String() string {
	var parts []string
	for _, n := range []struct {
		f    CTFlags
		name string
	}{{CTReply, "reply"}, {CTSeenReply, "seen-reply"}, {CTClosing, "closing"}, {CTProxyNetns, "proxy-netns"}} {
		if f&n.f != 0 {
			parts = append(parts, n.name)
		}
	}
	if len(parts) == 0 {
		return "new"
	}
	return strings.Join(parts, ",")
}

// CTEntry is one conntrack entry. Every flow has two: one keyed by the
// tuple of its first packet and one (Reply) by the reversed tuple.
type CTEntry struct {
	Proto uint8
	// Src and Dst are the entry's key. For ICMP echo the port is the
	// echo identifier, as Src port of a request and Dst port of a reply.
	Src, Dst netip.AddrPort
	Reply    bool
	Flags    CTFlags
	// SrcIdentity and DstIdentity are those of the flow's first packet
	// (in both entries).
	SrcIdentity, DstIdentity uint32
	// EndpointID is the endpoint whose program created the entry.
	EndpointID uint16
	// RuleID is the cookie of the policy entry that allowed the flow, 0
	// when no enforcing endpoint decided it.
	RuleID uint32
	// ProxyPort is the proxy listener a flow was steered to (forward
	// entry only), 0 for flows that go straight to their destination.
	ProxyPort uint16
	// Expires is the time left; zero or negative means expired (the
	// datapath treats it as absent, GCConntrack removes it).
	Expires time.Duration
}

// ctFromBPF decodes an entry; now is CLOCK_MONOTONIC in nanoseconds, the
// clock of bpf_ktime_get_ns.
func ctFromBPF(k bpfobj.DatapathNoriCtKey, v bpfobj.DatapathNoriCtValue, now int64) CTEntry {
	return CTEntry{
		Proto:       k.Proto,
		Src:         netip.AddrPortFrom(addrFromBE32(k.Saddr), ntohs(k.Sport)),
		Dst:         netip.AddrPortFrom(addrFromBE32(k.Daddr), ntohs(k.Dport)),
		Reply:       v.Flags&uint32(CTReply) != 0,
		Flags:       CTFlags(v.Flags),
		SrcIdentity: v.SrcIdentity,
		DstIdentity: v.DstIdentity,
		EndpointID:  v.EpId,
		RuleID:      v.RuleId,
		ProxyPort:   v.ProxyPort,
		Expires:     time.Duration(int64(v.Expires) - now),
	}
}
