/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright The Nori Authors. */

/* Programs on the node's VXLAN device (external / collect-metadata mode,
 * research/spike.md §4).
 *
 * nori_from_overlay runs on tcx ingress: decapsulated packets from other
 * nodes. The VNI is the sender's security identity. A packet for a local
 * endpoint is switched into its container with bpf_redirect_peer (or
 * handed to the proxy when its policy says so); any
 * other packet (the node's router or health address) goes to the node
 * stack.
 *
 * nori_to_overlay runs on tcx egress. Packets nori_from_container
 * redirected here already carry a tunnel key and pass untouched. Packets
 * the node's own stack routes into the overlay (`<remote CIDR> dev
 * nori_vxlan`, arp off) have none: the key is set here from the ipcache,
 * with the host identity as VNI (the client's for the proxy's upstream
 * connections). Without a key the device would drop them. */

/* Compiled as part of datapath.c; the includes name what this file uses. */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/config.h"
#include "lib/pkt.h"
#include "lib/metrics.h"
#include "lib/events.h"
#include "lib/tunnel.h"
#include "lib/policy.h"

SEC("tcx/ingress")
int nori_from_overlay(struct __sk_buff *skb)
{
	struct nori_node_config *cfg = nori_cfg();
	struct bpf_tunnel_key key;
	struct nori_endpoint *dst;
	struct nori_pkt p = {};
	__u32 src_identity, remote;

	/* Every packet an external-mode device receives has its key. */
	if (nori_get_tunnel(skb, &key) < 0)
		return nori_drop(skb, NORI_DROP_TUNNEL_KEY, NORI_DIR_INGRESS, 0, 0, 0);
	src_identity = key.tunnel_id;
	remote = bpf_htonl(key.remote_ipv4);

	switch (nori_parse(skb, &p)) {
	case NORI_PARSE_OTHER:
		/* Nori sends only IPv4 through the overlay; the stack drops
		 * the rest (it is addressed to the sender's MACs). */
		nori_count(NORI_REASON_PASS, NORI_DIR_INGRESS, skb->len);
		return NORI_TC_ACT_OK;
	case NORI_PARSE_BAD:
		return nori_drop(skb, NORI_DROP_INVALID, NORI_DIR_INGRESS, 0, src_identity, 0);
	}

	dst = bpf_map_lookup_elem(&nori_endpoints, &p.daddr);
	if (dst) {
		/* The VNI is the sender's identity; the host identity of
		 * another node is remote-node here. */
		if (cfg && (cfg->flags & NORI_CFG_F_POLICY)) {
			__u32 peer = src_identity == NORI_IDENTITY_HOST ? NORI_IDENTITY_REMOTE_NODE
									: src_identity;
			__u16 proxy_port;
			int ret = nori_policy_ingress(skb, cfg, dst, peer, &p, 0, &proxy_port);

			if (ret)
				return ret;
			if (proxy_port)
				return nori_to_proxy(skb, proxy_port, NORI_DIR_INGRESS, dst->ep_id, peer,
						     &p);
		}
		/* The inner frame still carries the sending side's MACs. */
		if (nori_set_macs(skb, dst->mac, dst->node_mac) < 0)
			return nori_drop(skb, NORI_DROP_REDIRECT, NORI_DIR_INGRESS, dst->ep_id,
					 src_identity, &p);
		if (cfg && (cfg->flags & NORI_CFG_F_TRACE))
			nori_emit_trace(skb, NORI_TRACE_FROM_OVERLAY, NORI_DIR_INGRESS, dst->ep_id,
					src_identity, dst->identity, remote, &p);
		nori_count(NORI_REASON_DECAP_LOCAL, NORI_DIR_INGRESS, skb->len);
		return bpf_redirect_peer(dst->ifindex, 0);
	}

	/* For the node itself. The inner destination MAC is not this
	 * device's, so the packet is PACKET_OTHERHOST and ip_rcv would drop
	 * it silently: claim it for this host first. */
	if (bpf_skb_change_type(skb, NORI_PACKET_HOST) < 0)
		return nori_drop(skb, NORI_DROP_REDIRECT, NORI_DIR_INGRESS, 0, src_identity, &p);
	if (cfg && (cfg->flags & NORI_CFG_F_TRACE))
		nori_emit_trace(skb, NORI_TRACE_FROM_OVERLAY, NORI_DIR_INGRESS, 0, src_identity,
				NORI_IDENTITY_HOST, remote, &p);
	nori_count(NORI_REASON_DECAP_HOST, NORI_DIR_INGRESS, skb->len);
	return NORI_TC_ACT_OK;
}

SEC("tcx/egress")
int nori_to_overlay(struct __sk_buff *skb)
{
	struct nori_ipcache_value *info;
	struct nori_node_config *cfg;
	struct bpf_tunnel_key key;
	struct nori_pkt p = {};
	__u32 identity = NORI_IDENTITY_HOST;

	/* Keyed by nori_from_container (already counted there). */
	if (nori_get_tunnel(skb, &key) == 0)
		return NORI_TC_ACT_OK;

	switch (nori_parse(skb, &p)) {
	case NORI_PARSE_OTHER:
		/* ARP and IPv6 have no remote node to go to. */
		return nori_drop(skb, NORI_DROP_NO_TUNNEL, NORI_DIR_EGRESS, 0, NORI_IDENTITY_HOST, 0);
	case NORI_PARSE_BAD:
		return nori_drop(skb, NORI_DROP_INVALID, NORI_DIR_EGRESS, 0, NORI_IDENTITY_HOST, 0);
	}

	/* The proxy's upstream connections carry their client's identity,
	 * so the destination's policy judges the client, not this node. */
	if (nori_mark_from_proxy(skb->mark))
		identity = nori_mark_identity(skb->mark);
	info = nori_ipcache_lookup(p.daddr);
	if (!info || !info->tunnel_endpoint)
		return nori_drop(skb, NORI_DROP_NO_TUNNEL, NORI_DIR_EGRESS, 0, identity, &p);
	if (nori_set_tunnel(skb, identity, info->tunnel_endpoint) < 0)
		return nori_drop(skb, NORI_DROP_TUNNEL_KEY, NORI_DIR_EGRESS, 0, identity, &p);
	cfg = nori_cfg();
	if (cfg && (cfg->flags & NORI_CFG_F_TRACE))
		nori_emit_trace(skb, NORI_TRACE_TO_OVERLAY, NORI_DIR_EGRESS, 0, identity,
				info->identity, info->tunnel_endpoint, &p);
	nori_count(NORI_REASON_ENCAP_HOST, NORI_DIR_EGRESS, skb->len);
	return NORI_TC_ACT_OK;
}
