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
	EndpointPolicyIngress = uint16(bpfobj.LxcNoriEpFlagsNORI_EP_F_POLICY_INGRESS)
	EndpointPolicyEgress  = uint16(bpfobj.LxcNoriEpFlagsNORI_EP_F_POLICY_EGRESS)
	EndpointProxy         = uint16(bpfobj.LxcNoriEpFlagsNORI_EP_F_PROXY)
)

// IPCacheRemote marks an ipcache entry behind a tunnel endpoint.
const IPCacheRemote = uint16(bpfobj.LxcNoriIpcacheFlagsNORI_IPC_F_REMOTE)

// Node config flags (NodeConfig.Flags).
const (
	ConfigTunnel = uint32(bpfobj.LxcNoriConfigFlagsNORI_CFG_F_TUNNEL)
	ConfigPolicy = uint32(bpfobj.LxcNoriConfigFlagsNORI_CFG_F_POLICY)
	ConfigTrace  = uint32(bpfobj.LxcNoriConfigFlagsNORI_CFG_F_TRACE)
)

// Reason says why a packet got its verdict. Values from ReasonDropBase
// up are drops.
type Reason uint8

// Reasons, as in bpf/lib/reason.h.
const (
	ReasonPass           = Reason(bpfobj.LxcNoriReasonNORI_REASON_PASS)
	ReasonRedirectLocal  = Reason(bpfobj.LxcNoriReasonNORI_REASON_REDIRECT_LOCAL)
	ReasonRedirectTunnel = Reason(bpfobj.LxcNoriReasonNORI_REASON_REDIRECT_TUNNEL)
	ReasonRedirectProxy  = Reason(bpfobj.LxcNoriReasonNORI_REASON_REDIRECT_PROXY)
	ReasonEventLost      = Reason(bpfobj.LxcNoriReasonNORI_REASON_EVENT_LOST)
	ReasonDropBase       = Reason(bpfobj.LxcNoriReasonNORI_DROP_BASE)
	ReasonDropInvalid    = Reason(bpfobj.LxcNoriReasonNORI_DROP_INVALID)
	ReasonDropTTL        = Reason(bpfobj.LxcNoriReasonNORI_DROP_TTL)
	ReasonDropPolicy     = Reason(bpfobj.LxcNoriReasonNORI_DROP_POLICY)
	ReasonDropPolicyDeny = Reason(bpfobj.LxcNoriReasonNORI_DROP_POLICY_DENY)
	ReasonDropNoTunnel   = Reason(bpfobj.LxcNoriReasonNORI_DROP_NO_TUNNEL)
	ReasonDropRedirect   = Reason(bpfobj.LxcNoriReasonNORI_DROP_REDIRECT)
	ReasonDropSpoof      = Reason(bpfobj.LxcNoriReasonNORI_DROP_SPOOF)
)

var reasonNames = map[Reason]string{
	ReasonPass:           "pass",
	ReasonRedirectLocal:  "redirect-local",
	ReasonRedirectTunnel: "redirect-tunnel",
	ReasonRedirectProxy:  "redirect-proxy",
	ReasonEventLost:      "event-lost",
	ReasonDropInvalid:    "drop-invalid",
	ReasonDropTTL:        "drop-ttl",
	ReasonDropPolicy:     "drop-policy",
	ReasonDropPolicyDeny: "drop-policy-deny",
	ReasonDropNoTunnel:   "drop-no-tunnel",
	ReasonDropRedirect:   "drop-redirect",
	ReasonDropSpoof:      "drop-spoof",
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
	DirUnknown = Direction(bpfobj.LxcNoriDirNORI_DIR_UNKNOWN)
	DirIngress = Direction(bpfobj.LxcNoriDirNORI_DIR_INGRESS)
	DirEgress  = Direction(bpfobj.LxcNoriDirNORI_DIR_EGRESS)
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
	EventDrop   = EventType(bpfobj.LxcNoriEventTypeNORI_EVENT_DROP)
	EventTrace  = EventType(bpfobj.LxcNoriEventTypeNORI_EVENT_TRACE)
	EventPolicy = EventType(bpfobj.LxcNoriEventTypeNORI_EVENT_POLICY)
	EventDebug  = EventType(bpfobj.LxcNoriEventTypeNORI_EVENT_DEBUG)
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
