// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import "github.com/nori-net/nori/agent/datapath/bpfobj"

// Packet marks shared with the programs (bpf/lib/common.h). Bits 8-11
// say what a mark means; the proxy's upstream mark carries the client's
// identity in the other bits.
const (
	MarkMagicMask = uint32(bpfobj.DatapathNoriMarksNORI_MARK_MAGIC_MASK)
	// MarkToProxy is set by the programs on packets steered to a proxy
	// listener; a fwmark rule routes them to the local table.
	MarkToProxy = uint32(bpfobj.DatapathNoriMarksNORI_MARK_TO_PROXY)
	// MarkFromProxy is the magic of the proxy's upstream sockets.
	MarkFromProxy = uint32(bpfobj.DatapathNoriMarksNORI_MARK_FROM_PROXY)
)

// identityWorld stands in for identities the mark cannot carry.
const identityWorld = 2

// UpstreamMark is the SO_MARK of a proxy upstream connection made for a
// client of identity id: the programs never steer it to the proxy again
// and judge it (and tag it in the overlay) as the client. Identity bits
// 0-15 go to mark bits 16-31 and bits 16-23 to mark bits 0-7, which
// holds every cluster identity (cluster ID << 16 | local ID). The
// node-local CIDR identities (1<<24 and up) do not fit; they become
// world, which they are part of.
func UpstreamMark(id uint32) uint32 {
	if id > 0xffffff {
		id = identityWorld
	}
	return MarkFromProxy | (id&0xffff)<<16 | (id>>16)&0xff
}

// MarkIdentity decodes the client identity of an UpstreamMark, as
// nori_mark_identity does in the programs.
func MarkIdentity(mark uint32) uint32 {
	return mark>>16 | (mark&0xff)<<16
}
