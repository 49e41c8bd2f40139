// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"fmt"

	"github.com/nori-net/nori/agent/datapath/bpfobj"
)

// Bits of a policy key before the protocol: identity (32), endpoint ID
// (16) and direction (8), then 8 of protocol and 16 of port. The map is
// an LPM trie; the prefix length says how much of the key counts.
const (
	policyPrefixPeer  = 56
	policyPrefixProto = policyPrefixPeer + 8
	policyPortBits    = 16
)

// PolicyKey selects the flows one policy entry decides.
type PolicyKey struct {
	// EndpointID is the local endpoint the entry belongs to.
	EndpointID uint16
	// Dir is DirIngress (flows into the endpoint) or DirEgress.
	Dir Direction
	// Identity is the peer's security identity; 0 matches any peer.
	// The datapath looks up the peer's own entries first and uses the
	// identity-0 entries only when none matches.
	Identity uint32
	// Proto is the IP protocol; 0 matches any protocol (and then Port
	// and PortBits must be 0).
	Proto uint8
	// Port is the destination port in host order; for ICMP it is the
	// ICMP type (8 = echo request).
	Port uint16
	// PortBits is how many leading bits of Port count: 16 for one port,
	// 0 for any port, n for the 2^(16-n) ports starting at Port (whose
	// remaining bits must be 0). policy.PortPrefixes splits a range into such
	// prefixes.
	PortBits uint8
}

// PolicyValue is what an entry decides.
type PolicyValue struct {
	// Verdict is PolicyAllow or PolicyDeny.
	Verdict uint8
	// Redirect steers allowed flows to the proxy at ProxyPort (host
	// order); the datapath does not act on it yet.
	Redirect  bool
	ProxyPort uint16
	// RuleID is the agent's cookie; drop and policy events and conntrack
	// entries carry it.
	RuleID uint32
}

// PolicyEntry is one entry of the policy map.
type PolicyEntry struct {
	Key   PolicyKey
	Value PolicyValue
	// Packets counts the new flows this entry decided.
	Packets uint64
}

func (k PolicyKey) validate() error {
	if k.Dir != DirIngress && k.Dir != DirEgress {
		return fmt.Errorf("policy key direction %d is neither ingress nor egress", k.Dir)
	}
	if k.PortBits > policyPortBits {
		return fmt.Errorf("policy key port bits %d exceed %d", k.PortBits, policyPortBits)
	}
	if k.Proto == 0 && (k.PortBits != 0 || k.Port != 0) {
		return fmt.Errorf("policy key for any protocol has port %d/%d", k.Port, k.PortBits)
	}
	if k.Port&^portMask(k.PortBits) != 0 {
		return fmt.Errorf("policy key port %d has bits set beyond its %d prefix bits", k.Port, k.PortBits)
	}
	return nil
}

func portMask(bits uint8) uint16 {
	if bits == 0 {
		return 0
	}
	return ^uint16(0) << (policyPortBits - bits)
}

func policyKeyToBPF(k PolicyKey) (bpfobj.DatapathNoriPolicyKey, error) {
	if err := k.validate(); err != nil {
		return bpfobj.DatapathNoriPolicyKey{}, err
	}
	out := bpfobj.DatapathNoriPolicyKey{
		Prefixlen: policyPrefixPeer,
		Identity:  k.Identity,
		EpId:      k.EndpointID,
		Dir:       uint8(k.Dir),
	}
	if k.Proto != 0 {
		out.Prefixlen = policyPrefixProto + uint32(k.PortBits)
		out.Proto = k.Proto
		// Network order, so the trie's bit prefixes are port ranges.
		out.Dport = htons(k.Port)
	}
	return out, nil
}

func policyKeyFromBPF(k bpfobj.DatapathNoriPolicyKey) PolicyKey {
	out := PolicyKey{EndpointID: k.EpId, Dir: Direction(k.Dir), Identity: k.Identity}
	if k.Prefixlen >= policyPrefixProto {
		out.Proto = k.Proto
		out.PortBits = uint8(k.Prefixlen - policyPrefixProto)
		out.Port = ntohs(k.Dport) & portMask(out.PortBits)
	}
	return out
}

func policyValueToBPF(v PolicyValue) (bpfobj.DatapathNoriPolicyValue, error) {
	var out bpfobj.DatapathNoriPolicyValue
	if v.Verdict != PolicyAllow && v.Verdict != PolicyDeny {
		return out, fmt.Errorf("policy verdict %d is neither allow (%d) nor deny (%d)", v.Verdict, PolicyAllow, PolicyDeny)
	}
	// A redirect without a proxy port is valid: it is what the agent
	// writes when no listener can serve it, and the datapath denies it.
	if v.Redirect && v.Verdict != PolicyAllow {
		return out, fmt.Errorf("policy redirect needs an allow verdict")
	}
	out.Verdict = v.Verdict
	if v.Redirect {
		out.Flags = PolicyRedirect
	}
	out.ProxyPort = v.ProxyPort
	out.RuleId = v.RuleID
	return out, nil
}

func policyEntryFromBPF(k bpfobj.DatapathNoriPolicyKey, v bpfobj.DatapathNoriPolicyValue) PolicyEntry {
	return PolicyEntry{
		Key: policyKeyFromBPF(k),
		Value: PolicyValue{
			Verdict:   v.Verdict,
			Redirect:  v.Flags&PolicyRedirect != 0,
			ProxyPort: v.ProxyPort,
			RuleID:    v.RuleId,
		},
		Packets: v.Packets,
	}
}

// htons turns a port number into the uint16 whose in-memory bytes are
// the port in network order (the inverse of ntohs).
func htons(v uint16) uint16 { return ntohs(v) }
