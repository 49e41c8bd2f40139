/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright The Nori Authors. */

/* Connection tracking for stateful policy: a flow allowed once lets its
 * later packets and its replies through without another policy lookup.
 * Every flow has a forward and a reply entry in nori_ct (maps.h), so a
 * packet of either direction needs one lookup. Lifetimes follow
 * bpf_ktime_get_ns (CLOCK_MONOTONIC); an entry past its expiry counts as
 * absent, and the agent's GC or the LRU removes it. */
#ifndef NORI_CONNTRACK_H
#define NORI_CONNTRACK_H

#include "maps.h"
#include "pkt.h"

#define NORI_SEC 1000000000ULL
#define NORI_CT_LIFETIME_TCP_NEW (60 * NORI_SEC)     /* until a reply is seen */
#define NORI_CT_LIFETIME_TCP (6 * 3600 * NORI_SEC)   /* established */
#define NORI_CT_LIFETIME_TCP_CLOSE (10 * NORI_SEC)   /* after FIN or RST */
#define NORI_CT_LIFETIME_OTHER (60 * NORI_SEC)       /* UDP, ICMP, ... */
/* A hit rewrites the expiry only when it would move by more than this,
 * so a busy flow does not write its entry (a cache line shared by every
 * CPU that sees the flow) on every packet. */
#define NORI_CT_REFRESH NORI_SEC

#define NORI_ICMP_ECHOREPLY 0
#define NORI_ICMP_DEST_UNREACH 3
#define NORI_ICMP_ECHO 8
#define NORI_ICMP_TIME_EXCEEDED 11
#define NORI_ICMP_PARAMETERPROB 12

enum nori_ct_result {
	NORI_CT_NEW = 0,         /* no live entry: policy decides */
	NORI_CT_ESTABLISHED = 1, /* a later packet of the flow's first direction */
	NORI_CT_REPLY = 2,       /* a packet of the reply direction */
	NORI_CT_RELATED = 3,     /* an ICMP error about a tracked flow */
};

/* nori_ct_ports gives the key ports of a packet: the L4 ports, or for
 * ICMP echo the identifier, as sport of a request and dport of a reply. */
static __always_inline void nori_ct_ports(struct nori_ct_key *k, __u8 proto, __u8 icmp_type,
					  __u16 icmp_id, __u16 sport, __u16 dport)
{
	k->sport = sport;
	k->dport = dport;
	if (proto == NORI_IPPROTO_ICMP) {
		if (icmp_type == NORI_ICMP_ECHO)
			k->sport = icmp_id;
		else if (icmp_type == NORI_ICMP_ECHOREPLY)
			k->dport = icmp_id;
	}
}

static __always_inline void nori_ct_tuple(struct nori_ct_key *k, const struct nori_pkt *p)
{
	k->saddr = p->saddr;
	k->daddr = p->daddr;
	k->proto = p->proto;
	nori_ct_ports(k, p->proto, p->icmp_type, p->icmp_id, p->sport, p->dport);
}

static __always_inline void nori_ct_reverse(struct nori_ct_key *r, const struct nori_ct_key *k)
{
	r->saddr = k->daddr;
	r->daddr = k->saddr;
	r->sport = k->dport;
	r->dport = k->sport;
	r->proto = k->proto;
}

static __always_inline __u64 nori_ct_lifetime(__u8 proto, __u32 flags)
{
	if (proto != NORI_IPPROTO_TCP)
		return NORI_CT_LIFETIME_OTHER;
	if (flags & NORI_CT_F_CLOSING)
		return NORI_CT_LIFETIME_TCP_CLOSE;
	if (flags & NORI_CT_F_SEEN_REPLY)
		return NORI_CT_LIFETIME_TCP;
	return NORI_CT_LIFETIME_TCP_NEW;
}

/* nori_ct_sync_other gives the other direction's entry the flags that
 * this packet added and the same expiry. It runs at most a few times per
 * flow (first reply, first FIN/RST). */
static __always_inline void nori_ct_sync_other(const struct nori_ct_key *k, __u32 add, __u64 expires)
{
	struct nori_ct_key r = {};
	struct nori_ct_value *o;

	nori_ct_reverse(&r, k);
	o = bpf_map_lookup_elem(&nori_ct, &r);
	if (o) {
		o->flags |= add;
		o->expires = expires;
	}
}

/* nori_ct_related reports whether p is an ICMP error (destination
 * unreachable, time exceeded, parameter problem) whose embedded packet
 * belongs to a live flow. The embedded packet was sent by the error's
 * destination, so its tuple, as it is, is one of the flow's keys. */
static __always_inline int nori_ct_related(struct __sk_buff *skb, const struct nori_pkt *p, __u64 now)
{
	struct nori_ct_key k = {};
	struct nori_ct_value *v;
	struct iphdr in;
	__u32 off;

	if (p->icmp_type != NORI_ICMP_DEST_UNREACH && p->icmp_type != NORI_ICMP_TIME_EXCEEDED &&
	    p->icmp_type != NORI_ICMP_PARAMETERPROB)
		return 0;
	off = p->l4_off + 8;
	if (bpf_skb_load_bytes(skb, off, &in, sizeof(in)) < 0)
		return 0;
	if (in.ihl < 5)
		return 0;
	off += in.ihl * 4;
	k.saddr = in.saddr;
	k.daddr = in.daddr;
	k.proto = in.protocol;
	if (in.protocol == NORI_IPPROTO_TCP || in.protocol == NORI_IPPROTO_UDP) {
		__be16 ports[2];

		if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)) < 0)
			return 0;
		k.sport = ports[0];
		k.dport = ports[1];
	} else if (in.protocol == NORI_IPPROTO_ICMP) {
		struct nori_icmp_hdr h;

		if (bpf_skb_load_bytes(skb, off, &h, sizeof(h)) < 0)
			return 0;
		nori_ct_ports(&k, NORI_IPPROTO_ICMP, h.type, h.id, 0, 0);
	} else {
		return 0;
	}
	v = bpf_map_lookup_elem(&nori_ct, &k);
	return v && v->expires > now;
}

/* nori_ct_lookup classifies p against the tracked flows and keeps the
 * hit entry alive. p must have been through nori_parse_l4. *proxy_port
 * is the proxy listener of a flow steered to the proxy, for packets of
 * its first direction (replies come from the proxy itself), else 0; a
 * flow whose proxy is in the destination's netns needs no steering here
 * and reads 0 too. */
static __always_inline int nori_ct_lookup(struct __sk_buff *skb, const struct nori_pkt *p, __u64 now,
					  __u16 *proxy_port)
{
	struct nori_ct_key k = {};
	struct nori_ct_value *v;
	__u32 flags, add = 0;
	__u64 expires;

	nori_ct_tuple(&k, p);
	v = bpf_map_lookup_elem(&nori_ct, &k);
	if (!v || v->expires <= now) {
		if (p->proto == NORI_IPPROTO_ICMP && nori_ct_related(skb, p, now))
			return NORI_CT_RELATED;
		return NORI_CT_NEW;
	}
	flags = v->flags;
	*proxy_port = (flags & NORI_CT_F_PROXY_NETNS) ? 0 : v->proxy_port;
	if (p->proto == NORI_IPPROTO_TCP) {
		/* A new connection reusing the ports of a closing one gets a
		 * fresh policy verdict. */
		if ((flags & NORI_CT_F_CLOSING) &&
		    (p->tcp_flags & (NORI_TCP_SYN | NORI_TCP_ACK)) == NORI_TCP_SYN)
			return NORI_CT_NEW;
		if (p->tcp_flags & (NORI_TCP_FIN | NORI_TCP_RST))
			add |= NORI_CT_F_CLOSING;
	}
	if (flags & NORI_CT_F_REPLY)
		add |= NORI_CT_F_SEEN_REPLY;
	add &= ~flags;
	flags |= add;
	expires = now + nori_ct_lifetime(p->proto, flags);
	if (add) {
		v->flags = flags;
		v->expires = expires;
		nori_ct_sync_other(&k, add, expires);
	} else if (expires > v->expires + NORI_CT_REFRESH) {
		v->expires = expires;
	}
	return (flags & NORI_CT_F_REPLY) ? NORI_CT_REPLY : NORI_CT_ESTABLISHED;
}

/* nori_ct_create tracks p's flow in both directions. Both entries carry
 * the identities of the flow's first packet (src = its sender); only the
 * forward one carries the proxy port, and with proxy_netns the flag that
 * it is a listener in the destination's netns. */
static __always_inline void nori_ct_create(const struct nori_pkt *p, __u64 now, __u32 src_identity,
					   __u32 dst_identity, __u16 ep_id, __u32 rule_id,
					   __u16 proxy_port, int proxy_netns)
{
	struct nori_ct_key k = {}, r = {};
	struct nori_ct_value v = {};

	nori_ct_tuple(&k, p);
	nori_ct_reverse(&r, &k);
	v.expires = now + nori_ct_lifetime(p->proto, 0);
	v.src_identity = src_identity;
	v.dst_identity = dst_identity;
	v.rule_id = rule_id;
	v.ep_id = ep_id;
	v.proxy_port = proxy_port;
	if (proxy_port && proxy_netns)
		v.flags = NORI_CT_F_PROXY_NETNS;
	/* A full LRU map evicts its oldest entries; a failed insert only
	 * means the next packet is decided by policy again. */
	bpf_map_update_elem(&nori_ct, &k, &v, BPF_ANY);
	v.flags = NORI_CT_F_REPLY;
	v.proxy_port = 0;
	bpf_map_update_elem(&nori_ct, &r, &v, BPF_ANY);
}

#endif
