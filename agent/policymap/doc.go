// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package policymap turns an endpoint's resolved policy
// (policy.EndpointPolicy) into the keys of the datapath's LPM policy map.
//
// The datapath decides a flow (endpoint, direction, peer identity I,
// protocol, port) with at most two longest-prefix lookups: first among the
// keys of identity I; if one matches, its verdict is final; otherwise among
// the keys of identity 0 (any peer); if nothing matches, the flow is
// denied. Within one identity the prefix is the protocol (8 bits, a key
// with protocol 0 matches every protocol) followed by PortBits leading bits
// of the port.
//
// The policy package's semantics are different: any matching deny wins
// over any matching allow, whatever their specificity. Compute bridges the
// two so that, for every flow, the two lookups give exactly the verdict
// policy.DirectionPolicy.Lookup gives (the property test proves this on
// thousands of random policies):
//
//   - an allow key covered by a deny key of the same identity is dropped,
//     because a longer allow would otherwise shadow the shorter deny;
//   - the deny keys of identity 0 are copied into a specific identity's set
//     where they fall inside one of its allow keys, because the first
//     lookup's match is final and would hide the wildcard deny;
//   - a key's value comes from the entry policy.Lookup would name for the
//     flows that key decides, so Redirect and RuleID agree too.
//
// The package is pure: it knows nothing of BPF. The agent converts Key and
// Value to the datapath's map types.
package policymap
