// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"fmt"

	"github.com/nori-net/nori/agent/datapath/bpfobj"
)

// The values below come from the C enums through bpf2go, so Go and C
// cannot drift apart.

// Endpoint flags (Endpoint.Flags).
const (
	EndpointPolicyIngress = uint16(bpfobj.DatapathNoriEpFlagsNORI_EP_F_POLICY_INGRESS)
	EndpointPolicyEgress  = uint16(bpfobj.DatapathNoriEpFlagsNORI_EP_F_POLICY_EGRESS)
	EndpointProxy         = uint16(bpfobj.DatapathNoriEpFlagsNORI_EP_F_PROXY)
	// EndpointProxyNetns: ingress redirects go to proxy listeners in the
	// endpoint's own netns (RegisterNetnsProxyListener, AttachProxyLookup).
	EndpointProxyNetns = uint16(bpfobj.DatapathNoriEpFlagsNORI_EP_F_PROXY_NETNS)
)

// IPCacheRemote marks an ipcache entry behind a tunnel endpoint.
const IPCacheRemote = uint16(bpfobj.DatapathNoriIpcacheFlagsNORI_IPC_F_REMOTE)

// Node config flags (NodeConfig.Flags).
const (
	ConfigTunnel = uint32(bpfobj.DatapathNoriConfigFlagsNORI_CFG_F_TUNNEL)
	ConfigPolicy = uint32(bpfobj.DatapathNoriConfigFlagsNORI_CFG_F_POLICY)
	ConfigTrace  = uint32(bpfobj.DatapathNoriConfigFlagsNORI_CFG_F_TRACE)
	// ConfigPolicyVerdicts makes the programs emit an EventPolicy for
	// every new flow an enforcing endpoint decides. The agent sets it
	// while a monitor listens: one event per new flow is not free.
	ConfigPolicyVerdicts = uint32(bpfobj.DatapathNoriConfigFlagsNORI_CFG_F_POLICY_VERDICTS)
)

// Policy verdicts (PolicyValue.Verdict, Event.Verdict).
const (
	PolicyAllow = uint8(bpfobj.DatapathNoriPolicyVerdictNORI_POLICY_ALLOW)
	PolicyDeny  = uint8(bpfobj.DatapathNoriPolicyVerdictNORI_POLICY_DENY)
)

// PolicyRedirect is the policy value flag that steers a flow to the
// proxy at PolicyValue.ProxyPort (PolicyValue.Redirect sets it).
const PolicyRedirect = uint8(bpfobj.DatapathNoriPolicyFlagsNORI_POL_F_REDIRECT)

// Reason says why a packet got its verdict. Values from ReasonDropBase
// up are drops.
type Reason uint8

// Reasons, as in bpf/lib/reason.h.
const (
	ReasonPass           = Reason(bpfobj.DatapathNoriReasonNORI_REASON_PASS)
	ReasonRedirectLocal  = Reason(bpfobj.DatapathNoriReasonNORI_REASON_REDIRECT_LOCAL)
	ReasonRedirectTunnel = Reason(bpfobj.DatapathNoriReasonNORI_REASON_REDIRECT_TUNNEL)
	ReasonRedirectProxy  = Reason(bpfobj.DatapathNoriReasonNORI_REASON_REDIRECT_PROXY)
	ReasonDecapLocal     = Reason(bpfobj.DatapathNoriReasonNORI_REASON_DECAP_LOCAL)
	ReasonDecapHost      = Reason(bpfobj.DatapathNoriReasonNORI_REASON_DECAP_HOST)
	ReasonEncapHost      = Reason(bpfobj.DatapathNoriReasonNORI_REASON_ENCAP_HOST)
	ReasonEventLost      = Reason(bpfobj.DatapathNoriReasonNORI_REASON_EVENT_LOST)
	ReasonDropBase       = Reason(bpfobj.DatapathNoriReasonNORI_DROP_BASE)
	ReasonDropInvalid    = Reason(bpfobj.DatapathNoriReasonNORI_DROP_INVALID)
	ReasonDropTTL        = Reason(bpfobj.DatapathNoriReasonNORI_DROP_TTL)
	ReasonDropPolicy     = Reason(bpfobj.DatapathNoriReasonNORI_DROP_POLICY)
	ReasonDropPolicyDeny = Reason(bpfobj.DatapathNoriReasonNORI_DROP_POLICY_DENY)
	ReasonDropNoTunnel   = Reason(bpfobj.DatapathNoriReasonNORI_DROP_NO_TUNNEL)
	ReasonDropRedirect   = Reason(bpfobj.DatapathNoriReasonNORI_DROP_REDIRECT)
	ReasonDropSpoof      = Reason(bpfobj.DatapathNoriReasonNORI_DROP_SPOOF)
	ReasonDropTunnelKey  = Reason(bpfobj.DatapathNoriReasonNORI_DROP_TUNNEL_KEY)
	ReasonDropNoProxy    = Reason(bpfobj.DatapathNoriReasonNORI_DROP_NO_PROXY)
	ReasonDropProxyPath  = Reason(bpfobj.DatapathNoriReasonNORI_DROP_PROXY_PATH)
)

var reasonNames = map[Reason]string{
	ReasonPass:           "pass",
	ReasonRedirectLocal:  "redirect-local",
	ReasonRedirectTunnel: "redirect-tunnel",
	ReasonRedirectProxy:  "redirect-proxy",
	ReasonDecapLocal:     "decap-local",
	ReasonDecapHost:      "decap-host",
	ReasonEncapHost:      "encap-host",
	ReasonEventLost:      "event-lost",
	ReasonDropInvalid:    "drop-invalid",
	ReasonDropTTL:        "drop-ttl",
	ReasonDropPolicy:     "drop-policy",
	ReasonDropPolicyDeny: "drop-policy-deny",
	ReasonDropNoTunnel:   "drop-no-tunnel",
	ReasonDropRedirect:   "drop-redirect",
	ReasonDropSpoof:      "drop-spoof",
	ReasonDropTunnelKey:  "drop-tunnel-key",
	ReasonDropNoProxy:    "drop-no-proxy",
	ReasonDropProxyPath:  "drop-proxy-path",
}

// IsDrop reports whether the reason is a drop.
func (r Reason) IsDrop() bool { return r >= ReasonDropBase }

func (r Reason) String() string {
	if n, ok := reasonNames[r]; ok {
		return n
	}
	return fmt.Sprintf("reason-%d", uint8(r))
}

// Direction is seen from the endpoint: egress leaves the container.
type Direction uint8

// Directions, as in bpf/lib/common.h.
const (
	DirUnknown = Direction(bpfobj.DatapathNoriDirNORI_DIR_UNKNOWN)
	DirIngress = Direction(bpfobj.DatapathNoriDirNORI_DIR_INGRESS)
	DirEgress  = Direction(bpfobj.DatapathNoriDirNORI_DIR_EGRESS)
)

func (d Direction) String() string {
	switch d {
	case DirIngress:
		return "ingress"
	case DirEgress:
		return "egress"
	}
	return "unknown"
}

// EventType is the kind of a ring buffer event.
type EventType uint8

// Event types, as in bpf/lib/events.h.
const (
	EventDrop   = EventType(bpfobj.DatapathNoriEventTypeNORI_EVENT_DROP)
	EventTrace  = EventType(bpfobj.DatapathNoriEventTypeNORI_EVENT_TRACE)
	EventPolicy = EventType(bpfobj.DatapathNoriEventTypeNORI_EVENT_POLICY)
	EventDebug  = EventType(bpfobj.DatapathNoriEventTypeNORI_EVENT_DEBUG)
)

func (t EventType) String() string {
	switch t {
	case EventDrop:
		return "drop"
	case EventTrace:
		return "trace"
	case EventPolicy:
		return "policy"
	case EventDebug:
		return "debug"
	}
	return fmt.Sprintf("type-%d", uint8(t))
}

// TracePoint says where a trace event was observed (Event.TracePoint).
type TracePoint uint8

// Trace points, as in bpf/lib/events.h.
const (
	// TraceToOverlay: a packet got its tunnel key; Event.SrcIdentity is
	// the VNI and Event.TunnelEndpoint the remote node.
	TraceToOverlay = TracePoint(bpfobj.DatapathNoriTracePointNORI_TRACE_TO_OVERLAY)
	// TraceFromOverlay: a packet arrived from the overlay; Event.SrcIdentity
	// is the VNI it carried and Event.TunnelEndpoint the sending node.
	TraceFromOverlay = TracePoint(bpfobj.DatapathNoriTracePointNORI_TRACE_FROM_OVERLAY)
)

func (p TracePoint) String() string {
	switch p {
	case TraceToOverlay:
		return "to-overlay"
	case TraceFromOverlay:
		return "from-overlay"
	}
	return fmt.Sprintf("point-%d", uint8(p))
}
