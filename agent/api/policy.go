// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Paths of the policy, BPF-map and monitor API.
const (
	PathPolicy         = "/v1/policy"          // GET ?label=L (repeatable): PolicyGet
	PathPolicyImport   = "/v1/policy/import"   // POST PolicyImportRequest: PolicyRevision
	PathPolicyDelete   = "/v1/policy/delete"   // POST PolicyDeleteRequest: PolicyRevision
	PathPolicyValidate = "/v1/policy/validate" // POST PolicyValidateRequest: PolicyValidate
	PathPolicyTrace    = "/v1/policy/trace"    // POST PolicyTraceRequest: PolicyTrace
	PathBPFPolicy      = "/v1/bpf/policy"      // GET ?endpoint=ID: []BPFPolicyEntry
	PathBPFCT          = "/v1/bpf/ct"          // GET: []BPFCTEntry
	PathMonitor        = "/v1/monitor"         // GET ?type=T (repeatable): NDJSON MonitorEvent stream
)

// CodeNotImplemented answers a request this agent has no backend for
// (e.g. policy calls on an agent started without the datapath); it maps to
// HTTP 501.
const CodeNotImplemented = "not-implemented"

// PolicyImportRequest adds rules to the cluster's policy repository.
type PolicyImportRequest struct {
	// Rules is a Cilium policy file as is: a JSON array of rules or a
	// single rule object. The agent parses it, so errors name the rule and
	// the field.
	Rules json.RawMessage `json:"rules"`
	// Replace first removes the rules that carry the same labels as an
	// imported rule, as `cilium policy import --replace` does.
	Replace bool `json:"replace,omitempty"`
}

// PolicyRevision answers a change of the policy repository.
type PolicyRevision struct {
	Revision uint64 `json:"revision"`
	// Count is the number of rules in the repository after the change.
	Count int `json:"count"`
	// Changed is the number of rules added or removed.
	Changed int `json:"changed"`
}

// PolicyGet is the repository's content (or the rules matching the
// requested labels) at Revision.
type PolicyGet struct {
	Revision uint64 `json:"revision"`
	// Rules is a JSON array of Cilium rules; it parses back unchanged.
	Rules json.RawMessage `json:"rules"`
}

// PolicyDeleteRequest removes the rules carrying every label in Labels,
// or every rule when All is set. One of the two is required.
type PolicyDeleteRequest struct {
	Labels []string `json:"labels,omitempty"`
	All    bool     `json:"all,omitempty"`
}

// PolicyValidateRequest checks a policy file without importing it.
type PolicyValidateRequest struct {
	Rules json.RawMessage `json:"rules"`
}

// PolicyValidate answers a valid PolicyValidateRequest; an invalid one is
// an *Error with CodeInvalid whose Message names the rule and field.
type PolicyValidate struct {
	Count int `json:"count"`
}

// PolicyTraceRequest asks for the verdict on a flow between two label
// sets, as `cilium policy trace` does.
type PolicyTraceRequest struct {
	Src []string `json:"src"`
	Dst []string `json:"dst"`
	// DPort is the destination port (the ICMP type for icmp).
	DPort uint16 `json:"dport"`
	// Proto is tcp, udp, sctp, icmp or any; empty means tcp.
	Proto string `json:"proto,omitempty"`
}

// ProtoNumber returns the IP protocol number of r.Proto (0 for any).
func (r PolicyTraceRequest) ProtoNumber() (uint8, error) {
	switch strings.ToLower(r.Proto) {
	case "", "tcp":
		return 6, nil
	case "udp":
		return 17, nil
	case "sctp":
		return 132, nil
	case "icmp":
		return 1, nil
	case "any":
		return 0, nil
	}
	return 0, fmt.Errorf("unknown protocol %q: want tcp, udp, sctp, icmp or any", r.Proto)
}

// PolicyTrace explains the verdict on a traced flow.
type PolicyTrace struct {
	// Verdict is "allow" or "deny".
	Verdict string `json:"verdict"`
	// Lines are the explanation, one step per line.
	Lines []string `json:"lines"`
}

// BPFPolicyEntry is one entry of an endpoint's datapath policy map.
type BPFPolicyEntry struct {
	EndpointID uint16 `json:"endpointID"`
	// Direction is ingress or egress.
	Direction string `json:"direction"`
	// Identity is the peer; 0 means any peer.
	Identity       uint32   `json:"identity"`
	IdentityLabels []string `json:"identityLabels,omitempty"`
	// Proto is tcp, udp, sctp, icmp or any.
	Proto string `json:"proto"`
	// Port..EndPort is the inclusive port range; 0..0 means every port.
	Port    uint16 `json:"port"`
	EndPort uint16 `json:"endPort,omitempty"`
	// PortPrefix is the number of significant port bits when the map is
	// keyed by port prefix (16 = one port, 0 = every port); EndPort is
	// then derived from it.
	PortPrefix uint8 `json:"portPrefix,omitempty"`
	// Verdict is allow or deny.
	Verdict   string `json:"verdict"`
	Redirect  bool   `json:"redirect,omitempty"`
	ProxyPort uint16 `json:"proxyPort,omitempty"`
	RuleID    uint32 `json:"ruleID,omitempty"`
	Packets   uint64 `json:"packets"`
}

// BPFCTEntry is one connection tracking entry.
type BPFCTEntry struct {
	Proto string `json:"proto"`
	// Src and Dst are "ip:port" (just "ip" for protocols without ports).
	Src   string `json:"src"`
	Dst   string `json:"dst"`
	Reply bool   `json:"reply,omitempty"`
	// SrcIdentity and DstIdentity are the identities seen when the entry
	// was created.
	SrcIdentity    uint32 `json:"srcIdentity,omitempty"`
	DstIdentity    uint32 `json:"dstIdentity,omitempty"`
	EndpointID     uint16 `json:"endpointID,omitempty"`
	ExpiresSeconds int64  `json:"expiresSeconds"`
	// Flags are names such as "syn,seen-reply,proxy".
	Flags string `json:"flags,omitempty"`
}

// Monitor event types, the values of MonitorEvent.Type and of the type
// query parameter of PathMonitor.
const (
	MonitorDrop          = "drop"
	MonitorTrace         = "trace"
	MonitorPolicyVerdict = "policy-verdict"
	MonitorL7            = "l7"
	// MonitorLost is sent in a stream, whatever the requested types, when
	// the client read too slowly and events were dropped for it; Lost
	// says how many.
	MonitorLost = "lost"
	// MonitorDebug events reach only subscribers that asked for every
	// type.
	MonitorDebug = "debug"
)

// MonitorTypes are the types a monitor client may ask for.
var MonitorTypes = []string{MonitorDrop, MonitorTrace, MonitorPolicyVerdict, MonitorL7}

// ValidMonitorType reports whether t may be asked for.
func ValidMonitorType(t string) bool {
	for _, v := range MonitorTypes {
		if v == t {
			return true
		}
	}
	return false
}

// MonitorEvent is one line of the monitor stream.
type MonitorEvent struct {
	Time time.Time `json:"time"`
	Type string    `json:"type"`
	// Reason is the drop reason (drop-policy, ...) of a drop, the trace
	// point (to-overlay, ...) of a trace.
	Reason string `json:"reason,omitempty"`
	// Verdict is allow, deny or redirect for policy-verdict; allow, deny
	// or error (allowed, but the upstream failed) for l7.
	Verdict string `json:"verdict,omitempty"`
	// Direction is ingress or egress, seen from the endpoint.
	Direction    string   `json:"direction,omitempty"`
	EndpointID   uint16   `json:"endpointID,omitempty"`
	EndpointName string   `json:"endpointName,omitempty"`
	SrcIdentity  uint32   `json:"srcIdentity,omitempty"`
	SrcLabels    []string `json:"srcLabels,omitempty"`
	DstIdentity  uint32   `json:"dstIdentity,omitempty"`
	DstLabels    []string `json:"dstLabels,omitempty"`
	// Src and Dst are "ip:port" (just "ip" for protocols without ports).
	Src   string `json:"src,omitempty"`
	Dst   string `json:"dst,omitempty"`
	Proto string `json:"proto,omitempty"`
	// RuleID is the datapath's ID of the deciding rule; Rule its labels.
	RuleID         uint32   `json:"ruleID,omitempty"`
	Rule           []string `json:"rule,omitempty"`
	TunnelEndpoint string   `json:"tunnelEndpoint,omitempty"`
	ProxyPort      uint16   `json:"proxyPort,omitempty"`
	Length         uint32   `json:"length,omitempty"`
	Node           string   `json:"node,omitempty"`
	// HTTP is set on l7 events.
	HTTP *MonitorHTTP `json:"http,omitempty"`
	// Lost is set on lost events.
	Lost uint64 `json:"lost,omitempty"`
}

// MonitorHTTP is the request (and, once answered, the response) an l7
// event reports.
type MonitorHTTP struct {
	Method    string `json:"method,omitempty"`
	Host      string `json:"host,omitempty"`
	Path      string `json:"path,omitempty"`
	Status    int    `json:"status,omitempty"`
	RequestID string `json:"requestID,omitempty"`
	// LatencyMs is the time to the response's headers.
	LatencyMs float64 `json:"latencyMs,omitempty"`
}
