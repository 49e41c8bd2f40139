/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright The Nori Authors. */

/* VXLAN in external (collect-metadata) mode: the device has no fixed
 * remote or VNI; the programs give each packet its own through the tunnel
 * key (research/spike.md §4). The VNI carries the sender's security
 * identity, so the receiving node knows it without a lookup. */
#ifndef NORI_TUNNEL_H
#define NORI_TUNNEL_H

#include "common.h"

/* VXLAN has 24 bits of VNI. Identities must fit: the identity allocator
 * keeps them below 2^24, as Cilium does. */
#define NORI_VNI_MASK 0xffffff

/* TTL of the outer IPv4 header. */
#define NORI_TUNNEL_TTL 64

/* nori_set_tunnel gives skb its tunnel key: VNI = identity, outer
 * destination = remote (a node's underlay address, network order). */
static __always_inline int nori_set_tunnel(struct __sk_buff *skb, __u32 identity, __u32 remote)
{
	struct bpf_tunnel_key key = {};

	key.tunnel_id = identity & NORI_VNI_MASK;
	/* The helper takes the address in HOST byte order. */
	key.remote_ipv4 = bpf_ntohl(remote);
	key.tunnel_ttl = NORI_TUNNEL_TTL;
	/* A zero outer UDP checksum is allowed for IPv4 (RFC 7348) and saves
	 * computing it over the whole inner packet. */
	return bpf_skb_set_tunnel_key(skb, &key, sizeof(key), BPF_F_ZERO_CSUM_TX);
}

/* nori_get_tunnel reads the key of a packet the VXLAN device received or
 * that a program has already keyed. It fails on a packet without one. */
static __always_inline int nori_get_tunnel(struct __sk_buff *skb, struct bpf_tunnel_key *key)
{
	__builtin_memset(key, 0, sizeof(*key));
	return bpf_skb_get_tunnel_key(skb, key, sizeof(*key), 0);
}

#endif
