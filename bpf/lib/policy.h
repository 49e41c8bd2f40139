/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright The Nori Authors. */

/* Identity-based policy (issue 4). Only the first packet of a flow is
 * looked up in nori_policy; conntrack (conntrack.h) carries the verdict
 * to the flow's later packets and to its replies. All of it runs only
 * when nori_config has NORI_CFG_F_POLICY.
 *
 * An allow entry may also name a proxy port (issue 5): the flow is then
 * handed to the agent's proxy listener on that port (nori_to_proxy)
 * instead of its destination; conntrack keeps the port for the flow's
 * later packets. An ingress flow to an endpoint with
 * NORI_EP_F_PROXY_NETNS goes on to the endpoint instead, where
 * nori_proxy_lookup (proxy.c) hands it to the agent's listener in the
 * endpoint's own netns. */
#ifndef NORI_POLICY_H
#define NORI_POLICY_H

#include "maps.h"
#include "config.h"
#include "pkt.h"
#include "metrics.h"
#include "events.h"
#include "conntrack.h"

/* identity + ep_id + dir + proto + dport, in bits. */
#define NORI_POLICY_PREFIX_FULL 80

/* nori_policy_port is the port a policy entry matches: the destination
 * port, or for ICMP the type (network order, like a port). */
static __always_inline __u16 nori_policy_port(const struct nori_pkt *p)
{
	if (p->proto == NORI_IPPROTO_ICMP)
		return bpf_htons((__u16)p->icmp_type);
	return p->dport;
}

/* nori_policy_lookup returns the verdict of ep's policy in dir for a
 * packet from or to peer: the entry for the peer itself if there is one,
 * else the entry for any peer (identity 0), else 0 (no entry: default
 * deny). The agent writes deny entries wherever a deny must beat an
 * allow, so these two lookups are exact. *proxy_port is the entry's
 * proxy port when it allows through the proxy, else 0. */
static __always_inline __u8 nori_policy_lookup(__u16 ep_id, __u8 dir, __u32 peer,
					       const struct nori_pkt *p, __u32 *rule_id,
					       __u16 *proxy_port)
{
	struct nori_policy_key key = {};
	struct nori_policy_value *v;

	key.prefixlen = NORI_POLICY_PREFIX_FULL;
	key.identity = peer;
	key.ep_id = ep_id;
	key.dir = dir;
	key.proto = p->proto;
	key.dport = nori_policy_port(p);
	v = bpf_map_lookup_elem(&nori_policy, &key);
	if (!v && peer) {
		key.identity = 0;
		v = bpf_map_lookup_elem(&nori_policy, &key);
	}
	*proxy_port = 0;
	if (!v) {
		*rule_id = 0;
		return 0;
	}
	__sync_fetch_and_add(&v->packets, 1);
	*rule_id = v->rule_id;
	/* Anything but an explicit allow denies. */
	if (v->verdict != NORI_POLICY_ALLOW)
		return NORI_POLICY_DENY;
	if (v->flags & NORI_POL_F_REDIRECT) {
		/* A redirect without a listener fails closed: passing the
		 * flow straight on would skip its L7 rules. */
		if (!v->proxy_port || p->proto != NORI_IPPROTO_TCP)
			return NORI_POLICY_DENY;
		*proxy_port = v->proxy_port;
	}
	return NORI_POLICY_ALLOW;
}

/* nori_enforce decides a new flow for one enforcing endpoint. It returns
 * 0 when the flow may go on (through the proxy when *proxy_port is set),
 * else the drop reason, with the drop counted and reported. */
static __always_inline __u8 nori_enforce(struct __sk_buff *skb, const struct nori_node_config *cfg,
					 __u16 ep_id, __u8 dir, __u32 peer, __u32 src_identity,
					 __u32 dst_identity, const struct nori_pkt *p, __u32 *rule_id,
					 __u16 *proxy_port)
{
	__u8 verdict = nori_policy_lookup(ep_id, dir, peer, p, rule_id, proxy_port);
	__u8 reason = 0;

	if (verdict != NORI_POLICY_ALLOW)
		reason = verdict ? NORI_DROP_POLICY_DENY : NORI_DROP_POLICY;
	verdict = reason ? NORI_POLICY_DENY : NORI_POLICY_ALLOW;
	if (cfg->flags & NORI_CFG_F_POLICY_VERDICTS)
		nori_emit(skb, NORI_EVENT_POLICY, verdict, dir, ep_id, src_identity, dst_identity, 0, p,
			  verdict, *rule_id, *proxy_port);
	if (reason) {
		nori_count(reason, dir, skb->len);
		nori_emit(skb, NORI_EVENT_DROP, reason, dir, ep_id, src_identity, dst_identity, 0, p,
			  verdict, *rule_id, 0);
	}
	return reason;
}

/* nori_peer_identity resolves an address that is not a local endpoint:
 * this node's own addresses are the host, the ipcache knows the cluster
 * (and any CIDR identities), everything else is the world. */
static __always_inline __u32 nori_peer_identity(const struct nori_node_config *cfg, __u32 addr)
{
	struct nori_ipcache_value *info;

	if (addr == cfg->node_ip || addr == cfg->router_ip)
		return NORI_IDENTITY_HOST;
	info = nori_ipcache_lookup(addr);
	return info ? info->identity : NORI_IDENTITY_WORLD;
}

/* nori_proxy_in_netns is the tc side of a flow for a proxy listener in
 * the destination's own netns: conntrack has recorded the port, and
 * nori_proxy_lookup (proxy.c) assigns the flow to that listener when it
 * arrives there, so here the packet goes on as if it had no proxy port. */
static __always_inline void nori_proxy_in_netns(struct __sk_buff *skb, __u16 *proxy_port)
{
	nori_count(NORI_REASON_REDIRECT_PROXY, NORI_DIR_INGRESS, skb->len);
	*proxy_port = 0;
}

/* nori_policy_ingress handles a packet into the local endpoint dst from
 * a peer of identity src_identity (the node stack's or the overlay's
 * deliveries). It returns 0 to let the packet on, else the tc verdict
 * (a drop, already counted and reported). *proxy_port is set when the
 * packet must go to the proxy instead. A packet the proxy itself sends
 * (from_proxy) has been through the proxy already: an entry that would
 * steer it there again only allows it. */
static __always_inline int nori_policy_ingress(struct __sk_buff *skb,
					       const struct nori_node_config *cfg,
					       const struct nori_endpoint *dst, __u32 src_identity,
					       struct nori_pkt *p, int from_proxy, __u16 *proxy_port)
{
	__u32 rule_id = 0;
	int netns;
	__u64 now;

	*proxy_port = 0;
	/* A later fragment has no ports to decide on; without the first
	 * one, which was decided, it cannot be reassembled. */
	if (p->frag)
		return 0;
	if (nori_parse_l4(skb, p) < 0)
		return nori_drop(skb, NORI_DROP_INVALID, NORI_DIR_INGRESS, dst->ep_id, src_identity, p);
	now = bpf_ktime_get_ns();
	if (nori_ct_lookup(skb, p, now, proxy_port) != NORI_CT_NEW) {
		if (from_proxy)
			*proxy_port = 0;
		return 0;
	}
	*proxy_port = 0;
	if ((dst->flags & NORI_EP_F_POLICY_INGRESS) &&
	    nori_enforce(skb, cfg, dst->ep_id, NORI_DIR_INGRESS, src_identity, src_identity,
			 dst->identity, p, &rule_id, proxy_port))
		return NORI_TC_ACT_SHOT;
	if (from_proxy)
		*proxy_port = 0;
	netns = *proxy_port && (dst->flags & NORI_EP_F_PROXY_NETNS);
	/* Tracked even when dst does not enforce, so that turning
	 * enforcement on later keeps the replies of running flows. */
	nori_ct_create(p, now, src_identity, dst->identity, dst->ep_id, rule_id, *proxy_port, netns);
	if (netns)
		nori_proxy_in_netns(skb, proxy_port);
	return 0;
}

/* nori_policy_egress handles a packet the local endpoint src sends to
 * dst (a local endpoint, or NULL for anything else). For a local dst it
 * also applies dst's ingress policy, because bpf_redirect_peer skips
 * dst's nori_to_container. Return as nori_policy_ingress; src's egress
 * proxy comes before dst's ingress proxy, which then sees the proxy's
 * upstream connection (with from_proxy) and lets it through. */
static __always_inline int nori_policy_egress(struct __sk_buff *skb,
					      const struct nori_node_config *cfg,
					      const struct nori_endpoint *src,
					      const struct nori_endpoint *dst, struct nori_pkt *p,
					      __u16 *proxy_port)
{
	__u32 dst_identity, rule_id = 0, in_rule = 0;
	__u16 in_proxy = 0;
	int netns = 0;
	__u64 now;

	*proxy_port = 0;
	/* Policy is per endpoint: a source address that is not the one of
	 * the endpoint behind this veth would pick another's identity. */
	if (!src || src->ifindex != skb->ifindex)
		return nori_drop(skb, NORI_DROP_SPOOF, NORI_DIR_EGRESS, 0, 0, p);
	if (p->frag)
		return 0;
	if (nori_parse_l4(skb, p) < 0)
		return nori_drop(skb, NORI_DROP_INVALID, NORI_DIR_EGRESS, src->ep_id, src->identity, p);
	now = bpf_ktime_get_ns();
	if (nori_ct_lookup(skb, p, now, proxy_port) != NORI_CT_NEW)
		return 0;
	*proxy_port = 0;
	dst_identity = dst ? dst->identity : nori_peer_identity(cfg, p->daddr);
	if ((src->flags & NORI_EP_F_POLICY_EGRESS) &&
	    nori_enforce(skb, cfg, src->ep_id, NORI_DIR_EGRESS, dst_identity, src->identity,
			 dst_identity, p, &rule_id, proxy_port))
		return NORI_TC_ACT_SHOT;
	if (dst && (dst->flags & NORI_EP_F_POLICY_INGRESS)) {
		if (nori_enforce(skb, cfg, dst->ep_id, NORI_DIR_INGRESS, src->identity, src->identity,
				 dst_identity, p, &in_rule, &in_proxy))
			return NORI_TC_ACT_SHOT;
		if (!rule_id)
			rule_id = in_rule;
		if (!*proxy_port && in_proxy) {
			*proxy_port = in_proxy;
			netns = dst->flags & NORI_EP_F_PROXY_NETNS;
		}
	}
	nori_ct_create(p, now, src->identity, dst_identity, src->ep_id, rule_id, *proxy_port, netns);
	if (netns)
		nori_proxy_in_netns(skb, proxy_port);
	return 0;
}

/* nori_to_proxy hands a packet of a flow steered to the proxy to the
 * listener on port, keeping its addresses: the proxy's accepted socket
 * has the original destination as its local address (research/spike.md
 * §5, tc bpf_sk_assign). A packet of a connection the proxy already
 * accepted must go to that connection's socket, not the listener, or the
 * handshake's last ACK resets it. The mark routes the packet to the local
 * table: only a locally routed packet reaches a socket. */
static __always_inline int nori_to_proxy(struct __sk_buff *skb, __u16 port, __u8 dir, __u16 ep_id,
					 __u32 src_identity, const struct nori_pkt *p)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 key = port;
	long err;

	t.ipv4.saddr = p->saddr;
	t.ipv4.daddr = p->daddr;
	t.ipv4.sport = p->sport;
	t.ipv4.dport = p->dport;
	sk = bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (sk) {
		if (sk->state != BPF_TCP_LISTEN) {
			err = bpf_sk_assign(skb, sk, 0);
			bpf_sk_release(sk);
			goto assigned;
		}
		bpf_sk_release(sk);
	}
	sk = bpf_map_lookup_elem(&nori_proxy_socks, &key);
	if (!sk)
		return nori_drop(skb, NORI_DROP_NO_PROXY, dir, ep_id, src_identity, p);
	err = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
assigned:
	if (err)
		return nori_drop(skb, NORI_DROP_NO_PROXY, dir, ep_id, src_identity, p);
	skb->mark = NORI_MARK_TO_PROXY;
	/* From the overlay the inner frame is addressed to another MAC. */
	if (skb->pkt_type != NORI_PACKET_HOST && bpf_skb_change_type(skb, NORI_PACKET_HOST) < 0)
		return nori_drop(skb, NORI_DROP_REDIRECT, dir, ep_id, src_identity, p);
	nori_count(NORI_REASON_REDIRECT_PROXY, dir, skb->len);
	return NORI_TC_ACT_OK;
}

#endif
