/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright The Nori Authors. */

/* Programs on the host-side veth of every container.
 *
 * nori_from_container runs on tcx ingress: packets the container sends.
 * A packet to another endpoint on this node is switched straight into
 * that container with bpf_redirect_peer, so the node's IP stack (and
 * ip_forward) never sees it. Everything else goes to the node stack,
 * which delivers it locally or routes and masquerades it.
 *
 * nori_to_container runs on tcx egress: packets the node stack sends into
 * the container. Packets redirected by bpf_redirect_peer enter the peer
 * device directly and do NOT pass this hook, so a destination's ingress
 * checks must also run on the redirecting side (see the issue 4 notes).
 *
 * Under TCX, TC_ACT_OK is TCX_PASS: it ends this hook and passes the
 * packet on, which is what both programs want. */

#include "lib/common.h"
#include "lib/reason.h"
#include "lib/maps.h"
#include "lib/pkt.h"
#include "lib/metrics.h"
#include "lib/events.h"

/* The kernel accepts programs under any license as long as they call no
 * GPL-only helper; none of the helpers used here is GPL-only. */
char LICENSE[] SEC("license") = "Apache-2.0";

/* bpf2go -type finds a type only when BTF refers to it from a global.
 * The event record and the enums are used only inside functions, so this
 * one unused pointer (8 bytes of .bss) makes them all visible to Go. */
struct nori_go_types {
	struct nori_event event;
	enum nori_reason reason;
	enum nori_event_type event_type;
	enum nori_dir dir;
	enum nori_ep_flags ep_flags;
	enum nori_ipcache_flags ipcache_flags;
	enum nori_config_flags config_flags;
};
const struct nori_go_types *nori_unused_go_types __attribute__((unused));

SEC("tcx/ingress")
int nori_from_container(struct __sk_buff *skb)
{
	struct nori_endpoint *src, *dst;
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

	/* ISSUE 4 (egress policy): look up the policy of src_ep for
	 * (destination identity, dport, proto) here; drop with
	 * NORI_DROP_POLICY or steer to the proxy. */

	dst = bpf_map_lookup_elem(&nori_endpoints, &p.daddr);
	if (dst) {
		/* ISSUE 4 (ingress policy of a local destination): the redirect
		 * below skips nori_to_container of the destination, so the
		 * destination's ingress policy (dst->ep_id, src_identity) must be
		 * checked here. */
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

	/* ISSUE 3 (overlay): look up p.daddr in nori_ipcache; when the entry
	 * has a tunnel_endpoint and nori_config.flags has NORI_CFG_F_TUNNEL,
	 * set the tunnel key (VNI = src_identity, remote = tunnel_endpoint)
	 * and bpf_redirect to nori_config.tunnel_ifindex. */

	nori_count(NORI_REASON_PASS, NORI_DIR_EGRESS, skb->len);
	return NORI_TC_ACT_OK;
}

SEC("tcx/egress")
int nori_to_container(struct __sk_buff *skb)
{
	/* ISSUE 4 (ingress policy for traffic from the node stack): parse,
	 * resolve the source identity from nori_ipcache and check the
	 * destination endpoint's ingress policy here. */
	nori_count(NORI_REASON_PASS, NORI_DIR_INGRESS, skb->len);
	return NORI_TC_ACT_OK;
}
