// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/nori-net/nori/agent/datapath/bpfobj"
)

// Event is one ring buffer record, decoded.
type Event struct {
	Type EventType
	// Reason is the drop reason for EventDrop.
	Reason Reason
	// TracePoint is where an EventTrace was observed.
	TracePoint TracePoint
	// Subtype is the raw subtype byte (for EventDrop, the same as Reason).
	Subtype        uint8
	Dir            Direction
	Proto          uint8
	EndpointID     uint16
	IfIndex        int
	Len            uint32
	Mark           uint32
	SrcIdentity    uint32
	DstIdentity    uint32
	Src            netip.AddrPort
	Dst            netip.AddrPort
	TunnelEndpoint netip.Addr
	ProxyPort      uint16
	// Verdict is PolicyAllow or PolicyDeny for EventPolicy and for
	// policy drops; for EventPolicy it is also the Subtype.
	Verdict uint8
	// RuleID is the cookie of the policy entry behind a policy verdict
	// or drop (0: no entry matched, default deny).
	RuleID uint32
	// MonotonicNS is bpf_ktime_get_ns at the time of the event.
	MonotonicNS uint64
}

// ParseEvent decodes one raw ring buffer record.
func ParseEvent(raw []byte) (Event, error) {
	var r bpfobj.DatapathNoriEvent
	if err := binary.Read(bytes.NewReader(raw), binary.NativeEndian, &r); err != nil {
		return Event{}, fmt.Errorf("decode event of %d bytes: %w", len(raw), err)
	}
	e := Event{
		Type:        EventType(r.Type),
		Subtype:     r.Subtype,
		Dir:         Direction(r.Dir),
		Proto:       r.Proto,
		EndpointID:  r.EpId,
		IfIndex:     int(r.Ifindex),
		Len:         r.Len,
		Mark:        r.Mark,
		SrcIdentity: r.SrcIdentity,
		DstIdentity: r.DstIdentity,
		Src:         netip.AddrPortFrom(addrFromBE32(r.Saddr), ntohs(r.Sport)),
		Dst:         netip.AddrPortFrom(addrFromBE32(r.Daddr), ntohs(r.Dport)),
		ProxyPort:   r.ProxyPort,
		Verdict:     r.Verdict,
		RuleID:      r.RuleId,
		MonotonicNS: r.TsNs,
	}
	switch e.Type {
	case EventDrop:
		e.Reason = Reason(r.Subtype)
	case EventTrace:
		e.TracePoint = TracePoint(r.Subtype)
	}
	if r.TunnelEndpoint != 0 {
		e.TunnelEndpoint = addrFromBE32(r.TunnelEndpoint)
	}
	return e, nil
}

// ntohs turns a port read in host order from network-order memory back
// into its number.
func ntohs(v uint16) uint16 {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], v)
	return binary.BigEndian.Uint16(b[:])
}
