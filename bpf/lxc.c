/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright The Nori Authors. */

/* Programs on the host-side veth of every container.
 *
 * nori_from_container runs on tcx ingress: packets the container sends.
 * A packet to another endpoint on this node is switched straight into
 * that container with bpf_redirect_peer, so the node's IP stack (and
 * ip_forward) never sees it. Everything else goes to the node stack,
 * which delivers it locally or routes and masquerades it. In tunnel
 * mode, a packet to an address behind another node is encapsulated here
 * and redirected to the VXLAN device (see overlay.c for the other end).
 *
 * nori_to_container runs on tcx egress: packets the node stack sends into
 * the container. Packets redirected by bpf_redirect_peer enter the peer
 * device directly and do NOT pass this hook, so a destination's ingress
 * checks also run on the redirecting side (nori_policy_egress).
 *
 * A flow whose policy entry names a proxy port goes to the agent's proxy
 * instead (nori_to_proxy in policy.h), from either program's ingress side.
 *
 * Under TCX, TC_ACT_OK is TCX_PASS: it ends this hook and passes the
 * packet on, which is what both programs want. */

/* Compiled as part of datapath.c; the includes name what this file uses. */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/config.h"
#include "lib/pkt.h"
#include "lib/metrics.h"
#include "lib/events.h"
#include "lib/tunnel.h"
#include "lib/policy.h"

/* nori_encap sends a container's packet to the node behind info: the
 * tunnel key carries the source identity as VNI, and the redirect hands
 * the packet to the VXLAN device, which adds the outer headers. The
 * node's IP stack never sees it, so ip_forward does not matter. */
static __always_inline int nori_encap(struct __sk_buff *skb, const struct nori_node_config *cfg,
				      const struct nori_ipcache_value *info, __u16 src_ep,
				      __u32 src_identity, const struct nori_pkt *p)
{
	if (!cfg->tunnel_ifindex)
		return nori_drop(skb, NORI_DROP_NO_TUNNEL, NORI_DIR_EGRESS, src_ep, src_identity, p);
	/* The node is a router hop, as for local delivery. */
	if (nori_dec_ttl(skb, p->ttl) < 0) {
		nori_count(NORI_REASON_PASS, NORI_DIR_EGRESS, skb->len);
		return NORI_TC_ACT_OK;
	}
	if (nori_set_tunnel(skb, src_identity, info->tunnel_endpoint) < 0)
		return nori_drop(skb, NORI_DROP_TUNNEL_KEY, NORI_DIR_EGRESS, src_ep, src_identity, p);
	if (cfg->flags & NORI_CFG_F_TRACE)
		nori_emit_trace(skb, NORI_TRACE_TO_OVERLAY, NORI_DIR_EGRESS, src_ep, src_identity,
				info->identity, info->tunnel_endpoint, p);
	nori_count(NORI_REASON_REDIRECT_TUNNEL, NORI_DIR_EGRESS, skb->len);
	return bpf_redirect(cfg->tunnel_ifindex, 0);
}

SEC("tcx/ingress")
int nori_from_container(struct __sk_buff *skb)
{
	struct nori_endpoint *src, *dst;
	struct nori_node_config *cfg;
	struct nori_pkt p = {};
	__u32 src_identity = 0;
	__u16 src_ep = 0;

	switch (nori_parse(skb, &p)) {
	case NORI_PARSE_OTHER:
		/* ARP, IPv6: not ours yet, the node stack handles them. */
		nori_count(NORI_REASON_PASS, NORI_DIR_EGRESS, skb->len);
		return NORI_TC_ACT_OK;
	case NORI_PARSE_BAD:
		return nori_drop(skb, NORI_DROP_INVALID, NORI_DIR_EGRESS, 0, 0, 0);
	}

	src = bpf_map_lookup_elem(&nori_endpoints, &p.saddr);
	if (src) {
		src_identity = src->identity;
		src_ep = src->ep_id;
	}
	dst = bpf_map_lookup_elem(&nori_endpoints, &p.daddr);

	/* Egress policy of src and, for a local destination, its ingress
	 * policy: the redirect below skips its nori_to_container. */
	cfg = nori_cfg();
	if (cfg && (cfg->flags & NORI_CFG_F_POLICY)) {
		__u16 proxy_port;
		int ret = nori_policy_egress(skb, cfg, src, dst, &p, &proxy_port);

		if (ret)
			return ret;
		if (proxy_port)
			return nori_to_proxy(skb, proxy_port, NORI_DIR_EGRESS, src_ep, src_identity, &p);
	}

	if (dst) {
		if (nori_dec_ttl(skb, p.ttl) < 0) {
			/* TTL exhausted (or rewrite failed): let the kernel decide. */
			nori_count(NORI_REASON_PASS, NORI_DIR_EGRESS, skb->len);
			return NORI_TC_ACT_OK;
		}
		if (nori_set_macs(skb, dst->mac, dst->node_mac) < 0)
			return nori_drop(skb, NORI_DROP_REDIRECT, NORI_DIR_EGRESS, src_ep,
					 src_identity, &p);
		nori_count(NORI_REASON_REDIRECT_LOCAL, NORI_DIR_EGRESS, skb->len);
		return bpf_redirect_peer(dst->ifindex, 0);
	}

	/* Not on this node. In tunnel mode an address behind another node
	 * goes straight into the overlay; in native-routing mode the node
	 * stack routes it with the agent's routes. */
	if (cfg && (cfg->flags & NORI_CFG_F_TUNNEL)) {
		struct nori_ipcache_value *info = nori_ipcache_lookup(p.daddr);

		/* An entry naming this node itself (its own CIDR, published
		 * like any other) is local: the node stack delivers it. */
		if (info && info->tunnel_endpoint && info->tunnel_endpoint == cfg->node_ip)
			info = 0;
		if (info && info->tunnel_endpoint)
			return nori_encap(skb, cfg, info, src_ep, src_identity, &p);
		if (info && (info->flags & NORI_IPC_F_REMOTE))
			return nori_drop(skb, NORI_DROP_NO_TUNNEL, NORI_DIR_EGRESS, src_ep,
					 src_identity, &p);
	}

	nori_count(NORI_REASON_PASS, NORI_DIR_EGRESS, skb->len);
	return NORI_TC_ACT_OK;
}

SEC("tcx/egress")
int nori_to_container(struct __sk_buff *skb)
{
	struct nori_node_config *cfg = nori_cfg();
	struct nori_endpoint *dst, *src;
	struct nori_pkt p = {};
	__u32 src_identity;
	__u16 proxy_port;
	int from_proxy;
	int ret;

	/* Without policy there is nothing to do on this side. */
	if (!cfg || !(cfg->flags & NORI_CFG_F_POLICY))
		goto pass;

	/* Ingress policy for what the node stack delivers: the host, the
	 * world (masqueraded replies, port mappings), natively routed
	 * remote endpoints, local endpoints whose packets took the stack. */
	switch (nori_parse(skb, &p)) {
	case NORI_PARSE_OTHER:
		goto pass;
	case NORI_PARSE_BAD:
		return nori_drop(skb, NORI_DROP_INVALID, NORI_DIR_INGRESS, 0, 0, 0);
	}
	dst = bpf_map_lookup_elem(&nori_endpoints, &p.daddr);
	if (!dst)
		goto pass;
	/* The proxy's upstream connection speaks for its client. */
	from_proxy = nori_mark_from_proxy(skb->mark);
	if (from_proxy) {
		src_identity = nori_mark_identity(skb->mark);
	} else {
		src = bpf_map_lookup_elem(&nori_endpoints, &p.saddr);
		src_identity = src ? src->identity : nori_peer_identity(cfg, p.saddr);
	}
	ret = nori_policy_ingress(skb, cfg, dst, src_identity, &p, from_proxy, &proxy_port);
	if (ret)
		return ret;
	/* A flow for the proxy arriving here came through the node stack
	 * (the host, port mappings, native routing): tc egress cannot hand
	 * it to a socket, and letting it past the proxy would skip its L7
	 * rules, so it is dropped. */
	if (proxy_port)
		return nori_drop(skb, NORI_DROP_PROXY_PATH, NORI_DIR_INGRESS, dst->ep_id, src_identity,
				 &p);
pass:
	nori_count(NORI_REASON_PASS, NORI_DIR_INGRESS, skb->len);
	return NORI_TC_ACT_OK;
}
