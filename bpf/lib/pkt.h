/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright The Nori Authors. */

/* Ethernet and IPv4 parsing. Programs work on the Ethernet and IPv4
 * headers through direct packet access; the L4 ports are copied with
 * bpf_skb_load_bytes because they may sit beyond the linear part. */
#ifndef NORI_PKT_H
#define NORI_PKT_H

#include "common.h"

/* What the programs know about one packet after parsing. Addresses and
 * ports stay in network order. */
struct nori_pkt {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 ttl;
	__u16 l4_off;
	__u8 frag;      /* not the first fragment: no L4 header */
	/* Filled only by nori_parse_l4, on the policy path. */
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 pad;
	__u16 icmp_id;  /* echo identifier, network order */
	__u16 pad2;
};

enum nori_parse {
	NORI_PARSE_IPV4 = 0,  /* p is filled in */
	NORI_PARSE_OTHER = 1, /* not IPv4 (ARP, IPv6, ...) */
	NORI_PARSE_BAD = 2,   /* claims to be IPv4 but is malformed */
};

/* nori_headers makes the Ethernet and IPv4 headers readable through
 * direct packet access and returns pointers into the packet. Pulling the
 * data invalidates earlier pointers, so callers re-run it after any
 * helper that may change the packet. */
static __always_inline int nori_headers(struct __sk_buff *skb, struct ethhdr **eth,
					struct iphdr **ip4)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	const __u32 need = sizeof(struct ethhdr) + sizeof(struct iphdr);

	if (data + need > data_end) {
		if (skb->len < need || bpf_skb_pull_data(skb, need) < 0)
			return -1;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		if (data + need > data_end)
			return -1;
	}
	*eth = data;
	*ip4 = data + sizeof(struct ethhdr);
	return 0;
}

/* nori_parse reads the headers of skb into p. */
static __always_inline int nori_parse(struct __sk_buff *skb, struct nori_pkt *p)
{
	struct ethhdr *eth;
	struct iphdr *ip4;
	__u32 ihl;

	if (skb->protocol != bpf_htons(NORI_ETH_P_IP))
		return NORI_PARSE_OTHER;
	if (nori_headers(skb, &eth, &ip4) < 0)
		return NORI_PARSE_BAD;
	if (eth->h_proto != bpf_htons(NORI_ETH_P_IP))
		return NORI_PARSE_OTHER;
	ihl = ip4->ihl;
	if (ip4->version != 4 || ihl < 5)
		return NORI_PARSE_BAD;

	p->saddr = ip4->saddr;
	p->daddr = ip4->daddr;
	p->proto = ip4->protocol;
	p->ttl = ip4->ttl;
	p->l4_off = NORI_ETH_HLEN + ihl * 4;
	p->sport = 0;
	p->dport = 0;

	/* Only the first fragment carries the ports. */
	p->frag = (ip4->frag_off & bpf_htons(NORI_IP_OFFSET)) != 0;
	if ((p->proto == NORI_IPPROTO_TCP || p->proto == NORI_IPPROTO_UDP) && !p->frag) {
		__be16 ports[2];

		if (bpf_skb_load_bytes(skb, p->l4_off, ports, sizeof(ports)) < 0)
			return NORI_PARSE_BAD;
		p->sport = ports[0];
		p->dport = ports[1];
	}
	return NORI_PARSE_IPV4;
}

/* The first 6 bytes of an ICMP header (the identifier is only meaningful
 * for echo). */
struct nori_icmp_hdr {
	__u8 type;
	__u8 code;
	__u16 csum;
	__u16 id;
};

#define NORI_TCP_FIN 0x01
#define NORI_TCP_SYN 0x02
#define NORI_TCP_RST 0x04
#define NORI_TCP_ACK 0x10

/* nori_parse_l4 reads what conntrack and policy need beyond the ports:
 * the TCP flags, or the ICMP type and echo identifier. It runs only when
 * policy is enabled, so the plain forwarding path loads nothing more. */
static __always_inline int nori_parse_l4(struct __sk_buff *skb, struct nori_pkt *p)
{
	if (p->frag)
		return 0;
	if (p->proto == NORI_IPPROTO_TCP) {
		__u8 flags;

		if (bpf_skb_load_bytes(skb, p->l4_off + 13, &flags, sizeof(flags)) < 0)
			return -1;
		p->tcp_flags = flags;
	} else if (p->proto == NORI_IPPROTO_ICMP) {
		struct nori_icmp_hdr h;

		if (bpf_skb_load_bytes(skb, p->l4_off, &h, sizeof(h)) < 0)
			return -1;
		p->icmp_type = h.type;
		p->icmp_id = h.id;
	}
	return 0;
}

/* nori_dec_ttl lowers the IPv4 TTL by one and fixes the header checksum,
 * as any router hop does. It returns -1 when the TTL would reach zero,
 * so the caller can leave the packet to the kernel, which answers with
 * ICMP time exceeded. */
static __always_inline int nori_dec_ttl(struct __sk_buff *skb, __u8 ttl)
{
	const __u32 ttl_off = NORI_ETH_HLEN + offsetof(struct iphdr, ttl);
	const __u32 csum_off = NORI_ETH_HLEN + offsetof(struct iphdr, check);
	__u8 new_ttl;

	if (ttl <= 1)
		return -1;
	new_ttl = ttl - 1;
	/* TTL is the high byte of the 16-bit word it shares with protocol. */
	if (bpf_l3_csum_replace(skb, csum_off, bpf_htons((__u16)ttl << 8),
				bpf_htons((__u16)new_ttl << 8), 2) < 0)
		return -1;
	if (bpf_skb_store_bytes(skb, ttl_off, &new_ttl, sizeof(new_ttl), 0) < 0)
		return -1;
	return 0;
}

/* nori_set_macs rewrites the Ethernet addresses for a routed hop. */
static __always_inline int nori_set_macs(struct __sk_buff *skb, const __u8 *dst, const __u8 *src)
{
	if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), dst, 6, 0) < 0)
		return -1;
	if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_source), src, 6, 0) < 0)
		return -1;
	return 0;
}

#endif
