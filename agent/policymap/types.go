// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policymap

import "fmt"

// Directions, numbered as the datapath's policy map key.
const (
	DirIngress uint8 = 1
	DirEgress  uint8 = 2
)

// Verdicts, numbered as the datapath's policy map value (and as
// policy.Verdict).
const (
	VerdictAllow uint8 = 1
	VerdictDeny  uint8 = 2
)

// Key mirrors the datapath's LPM policy map key. Identity 0 matches any
// peer (second lookup). Proto 0 matches every protocol and then PortBits is
// 0; otherwise the top PortBits bits of Port count (the other bits are
// always zero, so equal regions give equal keys). For ICMP the port is the
// ICMP type.
type Key struct {
	EndpointID uint16
	Dir        uint8
	Identity   uint32
	Proto      uint8
	Port       uint16 // host byte order
	PortBits   uint8  // 0..16
}

// PrefixLen is the key's match length after (endpoint, direction,
// identity): 0 for any protocol, else 8 + PortBits.
func (k Key) PrefixLen() int {
	if k.Proto == 0 {
		return 0
	}
	return 8 + int(k.PortBits)
}

// Matches reports whether the key matches a flow of the endpoint and
// direction with peer identity id (taken literally: 0 is the wildcard
// lookup), protocol and port.
func (k Key) Matches(ep uint16, dir uint8, id uint32, proto uint8, port uint16) bool {
	if k.EndpointID != ep || k.Dir != dir || k.Identity != id {
		return false
	}
	if k.Proto == 0 {
		return true
	}
	if k.Proto != proto {
		return false
	}
	shift := 16 - uint(k.PortBits)
	return uint32(k.Port)>>shift == uint32(port)>>shift
}

func (k Key) String() string {
	if k.Proto == 0 {
		return fmt.Sprintf("ep %d dir %d id %d any", k.EndpointID, k.Dir, k.Identity)
	}
	return fmt.Sprintf("ep %d dir %d id %d proto %d port %d/%d", k.EndpointID, k.Dir, k.Identity, k.Proto, k.Port, k.PortBits)
}

// Value mirrors the datapath's policy map value.
type Value struct {
	Verdict  uint8
	Redirect bool // allow through the L7/TLS proxy
	// ProxyPort is 0 from Compute: the proxy assigns ports later.
	ProxyPort uint16
	// L7 is, for a redirect, what the proxy applies to the key's flows:
	// the L7 policies of every allowing entry that covers the key, as
	// canonical JSON (a []policy.L7Policy), so equal settings give equal
	// strings and Value stays comparable. See ParseL7.
	L7 string
	// RuleID names the deciding rule for events: its repository index + 1,
	// 0 for the implicit allow-all of enableDefaultDeny false.
	RuleID uint32
}
