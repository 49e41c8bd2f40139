// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

// The JSON tags mirror Cilium's pkg/policy/api so a policy file written for
// Cilium imports unchanged, and so MarshalJSON output parses back to an
// equal Rule (the Repository's storage format).

// Rule is one Cilium policy rule.
type Rule struct {
	EndpointSelector  EndpointSelector  `json:"endpointSelector"`
	Ingress           []IngressRule     `json:"ingress,omitempty"`
	IngressDeny       []IngressDenyRule `json:"ingressDeny,omitempty"`
	Egress            []EgressRule      `json:"egress,omitempty"`
	EgressDeny        []EgressDenyRule  `json:"egressDeny,omitempty"`
	Labels            Labels            `json:"labels,omitempty"`
	EnableDefaultDeny DefaultDeny       `json:"enableDefaultDeny,omitzero"`
	Description       string            `json:"description,omitempty"`
}

// DefaultDeny is Cilium's enableDefaultDeny; nil means true, because a
// rule only relaxes default deny when it says so explicitly.
type DefaultDeny struct {
	Ingress *bool `json:"ingress,omitempty"`
	Egress  *bool `json:"egress,omitempty"`
}

// l3 holds the L3 parts shared by every rule kind; the JSON names differ
// per direction (fromX / toX), so l3 carries no tags and each
// rule type spells the fields out.
type l3 struct {
	Endpoints []EndpointSelector
	CIDR      []string
	CIDRSet   []CIDRRule
	Entities  []Entity
}

// empty reports whether no L3 field was given, which Cilium reads as "any
// peer" when ports are given.
func (p l3) empty() bool {
	return len(p.Endpoints) == 0 && len(p.CIDR) == 0 && len(p.CIDRSet) == 0 && len(p.Entities) == 0
}

// IngressRule allows traffic into the selected endpoints.
type IngressRule struct {
	FromEndpoints []EndpointSelector `json:"fromEndpoints,omitempty"`
	FromCIDR      []string           `json:"fromCIDR,omitempty"`
	FromCIDRSet   []CIDRRule         `json:"fromCIDRSet,omitempty"`
	FromEntities  []Entity           `json:"fromEntities,omitempty"`
	ToPorts       []PortRule         `json:"toPorts,omitempty"`
	ICMPs         []ICMPRule         `json:"icmps,omitempty"`
}

// IngressDenyRule denies traffic into the selected endpoints; it has no
// L7 part because a denied connection never reaches a proxy.
type IngressDenyRule struct {
	FromEndpoints []EndpointSelector `json:"fromEndpoints,omitempty"`
	FromCIDR      []string           `json:"fromCIDR,omitempty"`
	FromCIDRSet   []CIDRRule         `json:"fromCIDRSet,omitempty"`
	FromEntities  []Entity           `json:"fromEntities,omitempty"`
	ToPorts       []PortDenyRule     `json:"toPorts,omitempty"`
	ICMPs         []ICMPRule         `json:"icmps,omitempty"`
}

// EgressRule allows traffic out of the selected endpoints.
type EgressRule struct {
	ToEndpoints []EndpointSelector `json:"toEndpoints,omitempty"`
	ToCIDR      []string           `json:"toCIDR,omitempty"`
	ToCIDRSet   []CIDRRule         `json:"toCIDRSet,omitempty"`
	ToEntities  []Entity           `json:"toEntities,omitempty"`
	ToPorts     []PortRule         `json:"toPorts,omitempty"`
	ICMPs       []ICMPRule         `json:"icmps,omitempty"`
}

// EgressDenyRule denies traffic out of the selected endpoints.
type EgressDenyRule struct {
	ToEndpoints []EndpointSelector `json:"toEndpoints,omitempty"`
	ToCIDR      []string           `json:"toCIDR,omitempty"`
	ToCIDRSet   []CIDRRule         `json:"toCIDRSet,omitempty"`
	ToEntities  []Entity           `json:"toEntities,omitempty"`
	ToPorts     []PortDenyRule     `json:"toPorts,omitempty"`
	ICMPs       []ICMPRule         `json:"icmps,omitempty"`
}

func (r IngressRule) peers() l3 {
	return l3{r.FromEndpoints, r.FromCIDR, r.FromCIDRSet, r.FromEntities}
}
func (r IngressDenyRule) peers() l3 {
	return l3{r.FromEndpoints, r.FromCIDR, r.FromCIDRSet, r.FromEntities}
}
func (r EgressRule) peers() l3 {
	return l3{r.ToEndpoints, r.ToCIDR, r.ToCIDRSet, r.ToEntities}
}
func (r EgressDenyRule) peers() l3 {
	return l3{r.ToEndpoints, r.ToCIDR, r.ToCIDRSet, r.ToEntities}
}

// CIDRRule is a prefix minus the prefixes in Except.
type CIDRRule struct {
	CIDR   string   `json:"cidr"`
	Except []string `json:"except,omitempty"`
}

// Entity names a group of peers (world, host, cluster, ...).
type Entity string

// PortRule is one toPorts element of an allow rule.
type PortRule struct {
	Ports          []PortProtocol `json:"ports,omitempty"`
	TerminatingTLS *TLSContext    `json:"terminatingTLS,omitempty"`
	OriginatingTLS *TLSContext    `json:"originatingTLS,omitempty"`
	ServerNames    []string       `json:"serverNames,omitempty"`
	Rules          *L7Rules       `json:"rules,omitempty"`
}

// redirects reports whether traffic matching the rule must go through the
// proxy.
func (p PortRule) redirects() bool {
	return p.TerminatingTLS != nil || p.OriginatingTLS != nil || len(p.ServerNames) > 0 ||
		(p.Rules != nil && len(p.Rules.HTTP) > 0)
}

// PortDenyRule is one toPorts element of a deny rule: ports only.
type PortDenyRule struct {
	Ports []PortProtocol `json:"ports,omitempty"`
}

// PortProtocol is a port or port range with a protocol. Port is a string
// as in Cilium; "0" or "" means every port.
type PortProtocol struct {
	Port     string   `json:"port,omitempty"`
	EndPort  int32    `json:"endPort,omitempty"`
	Protocol Protocol `json:"protocol,omitempty"`
}

// Protocol is TCP, UDP, SCTP or ANY (normalised to upper case).
type Protocol string

// Protocol names.
const (
	ProtoTCP  Protocol = "TCP"
	ProtoUDP  Protocol = "UDP"
	ProtoSCTP Protocol = "SCTP"
	ProtoAny  Protocol = "ANY"
)

// IP protocol numbers used in verdict entries; 0 means any.
const (
	IPProtoAny    uint8 = 0
	IPProtoICMP   uint8 = 1
	IPProtoTCP    uint8 = 6
	IPProtoUDP    uint8 = 17
	IPProtoICMPv6 uint8 = 58
	IPProtoSCTP   uint8 = 132
)

// TLSContext names the certificate material of a TLS rule. Certificate,
// PrivateKey and TrustedCA are item names in the secret's folder; empty
// means the defaults tls.crt, tls.key and (none).
type TLSContext struct {
	Secret      *Secret `json:"secret"`
	TrustedCA   string  `json:"trustedCA,omitempty"`
	Certificate string  `json:"certificate,omitempty"`
	PrivateKey  string  `json:"privateKey,omitempty"`
}

// Secret names a folder of certificate files
// (<certificates-directory>/<name>).
type Secret struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// L7Rules holds the application-level rules of a port rule.
type L7Rules struct {
	HTTP []PortRuleHTTP `json:"http,omitempty"`
}

// PortRuleHTTP allows HTTP requests matching every given field. Path,
// Method and Host are RE2 regexes matched in full (see CompileHTTPRegex).
type PortRuleHTTP struct {
	Path    string   `json:"path,omitempty"`
	Method  string   `json:"method,omitempty"`
	Host    string   `json:"host,omitempty"`
	Headers []string `json:"headers,omitempty"`
}

// ICMPRule allows ICMP messages of the listed types.
type ICMPRule struct {
	Fields []ICMPField `json:"fields"`
}

// ICMPField is one ICMP type; Family is IPv4 (default) or IPv6.
type ICMPField struct {
	Family string `json:"family,omitempty"`
	Type   uint8  `json:"type"`
}
