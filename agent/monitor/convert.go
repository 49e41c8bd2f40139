// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package monitor

import (
	"net/netip"
	"strconv"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/datapath"
)

// eventType names a datapath event type the way the API does.
func eventType(t datapath.EventType) string {
	switch t {
	case datapath.EventDrop:
		return api.MonitorDrop
	case datapath.EventTrace:
		return api.MonitorTrace
	case datapath.EventPolicy:
		return api.MonitorPolicyVerdict
	case datapath.EventDebug:
		return api.MonitorDebug
	}
	return t.String()
}

// Convert turns a decoded datapath event into its API form, without the
// time, node and enrichment the Hub adds.
func Convert(e datapath.Event) api.MonitorEvent {
	ev := api.MonitorEvent{
		Type:        eventType(e.Type),
		EndpointID:  e.EndpointID,
		SrcIdentity: e.SrcIdentity,
		DstIdentity: e.DstIdentity,
		Proto:       ProtoName(e.Proto),
		Src:         addrPort(e.Src, e.Proto),
		Dst:         addrPort(e.Dst, e.Proto),
		ProxyPort:   e.ProxyPort,
		Length:      e.Len,
		RuleID:      e.RuleID,
	}
	if e.Dir != datapath.DirUnknown {
		ev.Direction = e.Dir.String()
	}
	if e.TunnelEndpoint.IsValid() {
		ev.TunnelEndpoint = e.TunnelEndpoint.String()
	}
	switch e.Type {
	case datapath.EventDrop:
		ev.Reason = e.Reason.String()
	case datapath.EventTrace:
		ev.Reason = e.TracePoint.String()
	case datapath.EventPolicy:
		ev.Verdict = verdictName(e.Verdict, e.ProxyPort)
	}
	return ev
}

func verdictName(v uint8, proxyPort uint16) string {
	switch v {
	case datapath.PolicyAllow:
		if proxyPort != 0 {
			return "redirect"
		}
		return "allow"
	case datapath.PolicyDeny:
		return "deny"
	}
	return "verdict-" + strconv.Itoa(int(v))
}

// ProtoName names an IP protocol number as the API does.
func ProtoName(p uint8) string {
	switch p {
	case 0:
		return "any"
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "icmpv6"
	case 132:
		return "sctp"
	}
	return "proto-" + strconv.Itoa(int(p))
}

// addrPort prints ip:port for protocols with ports and the bare address
// for the others; an unset address is empty.
func addrPort(ap netip.AddrPort, proto uint8) string {
	if !ap.Addr().IsValid() || ap.Addr().IsUnspecified() && ap.Port() == 0 {
		return ""
	}
	switch proto {
	case 6, 17, 132:
		return ap.String()
	}
	return ap.Addr().String()
}
