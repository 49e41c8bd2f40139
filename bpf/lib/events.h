/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright The Nori Authors. */

/* Ring buffer events. One generic record serves drops, policy verdicts
 * and traces, so that `nori monitor` decodes one layout. Fields that an
 * event type does not use stay zero. */
#ifndef NORI_EVENTS_H
#define NORI_EVENTS_H

#include "maps.h"
#include "metrics.h"
#include "pkt.h"

enum nori_event_type {
	NORI_EVENT_DROP = 1,   /* subtype: enum nori_reason */
	NORI_EVENT_TRACE = 2,  /* subtype: enum nori_trace_point */
	NORI_EVENT_POLICY = 3, /* subtype = verdict (enum nori_policy_verdict) */
	NORI_EVENT_DEBUG = 4,
};

/* Where a trace event was observed. Stored in events: append, never
 * renumber. Traces are written only when nori_config has NORI_CFG_F_TRACE,
 * because one event per packet costs more than the forwarding itself. */
enum nori_trace_point {
	NORI_TRACE_TO_OVERLAY = 1,   /* keyed for the overlay: VNI = src_identity */
	NORI_TRACE_FROM_OVERLAY = 2, /* received from the overlay: src_identity = VNI */
};

struct nori_event {
	__u64 ts_ns;       /* bpf_ktime_get_ns */
	__u8 type;         /* enum nori_event_type */
	__u8 subtype;      /* depends on type */
	__u8 dir;          /* enum nori_dir */
	__u8 proto;        /* IP protocol */
	__u16 ep_id;       /* endpoint the program ran for, 0 = none */
	__u16 flags;
	__u32 ifindex;     /* interface the program ran on */
	__u32 len;         /* skb->len */
	__u32 mark;        /* skb->mark */
	__u32 src_identity;
	__u32 dst_identity;
	__u32 saddr;       /* network order */
	__u32 daddr;       /* network order */
	__u16 sport;       /* network order */
	__u16 dport;       /* network order */
	__u32 tunnel_endpoint; /* remote node, network order */
	__u16 proxy_port;  /* issue 5: proxy port of a redirect verdict, host order */
	__u8 verdict;      /* issue 4: policy verdict */
	__u8 pad;
	__u32 rule_id;     /* issue 4: policy entry's rule_id */
	__u32 reserved[5];
};

/* nori_emit writes one event. It never fails the packet path: when the
 * ring buffer is full it only counts the lost event. p may be NULL;
 * verdict and rule_id are zero except for policy decisions. */
static __always_inline void nori_emit(struct __sk_buff *skb, __u8 type, __u8 subtype, __u8 dir,
				      __u16 ep_id, __u32 src_identity, __u32 dst_identity,
				      __u32 tunnel_endpoint, const struct nori_pkt *p,
				      __u8 verdict, __u32 rule_id, __u16 proxy_port)
{
	struct nori_event *ev;

	ev = bpf_ringbuf_reserve(&nori_events, sizeof(*ev), 0);
	if (!ev) {
		nori_count(NORI_REASON_EVENT_LOST, dir, 0);
		return;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->ts_ns = bpf_ktime_get_ns();
	ev->type = type;
	ev->subtype = subtype;
	ev->dir = dir;
	ev->ep_id = ep_id;
	ev->ifindex = skb->ifindex;
	ev->len = skb->len;
	ev->mark = skb->mark;
	ev->src_identity = src_identity;
	ev->dst_identity = dst_identity;
	ev->tunnel_endpoint = tunnel_endpoint;
	ev->verdict = verdict;
	ev->rule_id = rule_id;
	ev->proxy_port = proxy_port;
	if (p) {
		ev->proto = p->proto;
		ev->saddr = p->saddr;
		ev->daddr = p->daddr;
		ev->sport = p->sport;
		ev->dport = p->dport;
	}
	bpf_ringbuf_submit(ev, 0);
}

/* nori_emit_drop writes a drop event with its reason. */
static __always_inline void nori_emit_drop(struct __sk_buff *skb, __u8 reason, __u8 dir,
					   __u16 ep_id, __u32 src_identity,
					   const struct nori_pkt *p)
{
	nori_emit(skb, NORI_EVENT_DROP, reason, dir, ep_id, src_identity, 0, 0, p, 0, 0, 0);
}

/* nori_emit_trace writes a trace event. tunnel_endpoint is the remote
 * node (network order); dst_identity is 0 when unknown. */
static __always_inline void nori_emit_trace(struct __sk_buff *skb, __u8 point, __u8 dir,
					    __u16 ep_id, __u32 src_identity,
					    __u32 dst_identity, __u32 tunnel_endpoint,
					    const struct nori_pkt *p)
{
	nori_emit(skb, NORI_EVENT_TRACE, point, dir, ep_id, src_identity, dst_identity, tunnel_endpoint,
		  p, 0, 0, 0);
}

/* nori_drop counts, reports and drops a packet. */
static __always_inline int nori_drop(struct __sk_buff *skb, __u8 reason, __u8 dir, __u16 ep_id,
				     __u32 src_identity, const struct nori_pkt *p)
{
	nori_count(reason, dir, skb->len);
	nori_emit_drop(skb, reason, dir, ep_id, src_identity, p);
	return NORI_TC_ACT_SHOT;
}

#endif
