/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright The Nori Authors. */

/* Constants shared by every Nori program. vmlinux.h carries no #defines,
 * so the few UAPI values the programs need are repeated here. Every
 * global name starts with nori_/NORI_ because vmlinux.h already uses
 * short names such as "config". */
#ifndef NORI_COMMON_H
#define NORI_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define NORI_ETH_P_IP 0x0800
#define NORI_ETH_HLEN 14
#define NORI_IPPROTO_TCP 6
#define NORI_IPPROTO_UDP 17
#define NORI_IPPROTO_ICMP 1
#define NORI_IP_MF 0x2000
#define NORI_IP_OFFSET 0x1fff

/* tc return codes (linux/pkt_cls.h). Under TCX, TC_ACT_OK is TCX_PASS: it
 * ends processing on this hook and hands the packet to the stack. */
#define NORI_TC_ACT_OK 0
#define NORI_TC_ACT_SHOT 2
#define NORI_TC_ACT_REDIRECT 7

/* skb->pkt_type for a packet addressed to this host (linux/if_packet.h). */
#define NORI_PACKET_HOST 0

/* Reserved security identities (as in Cilium). */
#define NORI_IDENTITY_HOST 1        /* this node */
#define NORI_IDENTITY_WORLD 2       /* anything outside the cluster */
#define NORI_IDENTITY_REMOTE_NODE 6 /* another node of the cluster */

/* skb->mark values shared with the agent's proxy (issue 5). Bits 8-11
 * say what a mark means, so the values never collide with each other's
 * fwmark rule:
 * - TO_PROXY: set on packets steered to a proxy listener; the agent's
 *   `fwmark 0x200/0xf00 lookup 2004` rule routes them locally, the only
 *   way a packet for a container address reaches a host socket.
 * - FROM_PROXY: set by the proxy (SO_MARK) on its upstream connections,
 *   which are then never steered again, with the identity of the client
 *   in the other bits (nori_mark_identity) so that the destination's
 *   policy sees the client, not the host. */
enum nori_marks {
	NORI_MARK_MAGIC_MASK = 0xf00,
	NORI_MARK_TO_PROXY = 0x200,
	NORI_MARK_FROM_PROXY = 0x400,
};

/* nori_mark_identity decodes the client identity of a FROM_PROXY mark:
 * identity bits 0-15 are mark bits 16-31, identity bits 16-23 mark bits
 * 0-7 (24 bits: every cluster identity). */
static __always_inline __u32 nori_mark_identity(__u32 mark)
{
	return (mark >> 16) | ((mark & 0xff) << 16);
}

static __always_inline int nori_mark_from_proxy(__u32 mark)
{
	return (mark & NORI_MARK_MAGIC_MASK) == NORI_MARK_FROM_PROXY;
}

/* Direction, seen from the endpoint, as in Cilium's metrics. */
enum nori_dir {
	NORI_DIR_UNKNOWN = 0,
	NORI_DIR_INGRESS = 1, /* into the container */
	NORI_DIR_EGRESS = 2,  /* out of the container */
};

#endif
