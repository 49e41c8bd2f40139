// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package health

import (
	"encoding/binary"
	"net/netip"
)

// Port is where every node's health server listens, as cilium-health.
const Port = 4240

// IP is the health address of a node CIDR: its last usable address (the
// broadcast address minus one). It is computed rather than stored, so the
// node entry in etcd needs no new field; IPAM hands out addresses from the
// bottom of the CIDR and the router takes the first, so the top one is
// free. The zero Addr is returned for a CIDR too small to hold it (/31,
// /32) or one that is not IPv4.
func IP(cidr netip.Prefix) netip.Addr {
	if !cidr.IsValid() || !cidr.Addr().Is4() || cidr.Bits() > 30 {
		return netip.Addr{}
	}
	b := cidr.Masked().Addr().As4()
	last := binary.BigEndian.Uint32(b[:]) | (^uint32(0) >> cidr.Bits())
	binary.BigEndian.PutUint32(b[:], last-1)
	return netip.AddrFrom4(b)
}
