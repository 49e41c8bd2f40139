/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright The Nori Authors. */

/* nori_proxy_lookup is an sk_lookup program the agent attaches to the
 * network namespace of an endpoint whose ingress policy sends flows to
 * the proxy (NORI_EP_F_PROXY_NETNS). The kernel runs it whenever a new
 * connection into that namespace looks for a listening socket.
 *
 * The tc programs on the node decided the flow and recorded the proxy
 * port in its conntrack entry (with NORI_CT_F_PROXY_NETNS); here the
 * connection is given to the agent's listener for that port inside the
 * namespace (nori_proxy_ns_socks). The accepted socket keeps the original
 * destination as its local address, and the proxy's own connection to the
 * application stays on the namespace's loopback, as a sidecar's would,
 * instead of crossing the node and the veth once more.
 *
 * A flow for the proxy whose listener is missing (the agent is restarting)
 * is refused: letting it reach the application would skip its L7 rules.
 * Connections without such an entry (the proxy's own upstream connection,
 * anything the policy passes at L4) go to the sockets they asked for. */

/* Compiled as part of datapath.c; the includes name what this file uses. */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/metrics.h"

#define NORI_AF_INET 2

SEC("sk_lookup")
int nori_proxy_lookup(struct bpf_sk_lookup *ctx)
{
	struct nori_proxy_sock_key sk_key = {};
	struct nori_ct_key k = {};
	struct nori_ct_value *v;
	struct bpf_sock *sk;
	long err;

	if (ctx->family != NORI_AF_INET || ctx->protocol != NORI_IPPROTO_TCP)
		return SK_PASS;
	k.saddr = ctx->remote_ip4;
	k.daddr = ctx->local_ip4;
	k.sport = ctx->remote_port;
	k.dport = bpf_htons((__u16)ctx->local_port);
	k.proto = NORI_IPPROTO_TCP;
	v = bpf_map_lookup_elem(&nori_ct, &k);
	if (!v || !(v->flags & NORI_CT_F_PROXY_NETNS) || !v->proxy_port ||
	    v->expires <= bpf_ktime_get_ns())
		return SK_PASS;

	sk_key.ip = ctx->local_ip4;
	sk_key.port = v->proxy_port;
	sk = bpf_map_lookup_elem(&nori_proxy_ns_socks, &sk_key);
	if (!sk) {
		nori_count(NORI_DROP_NO_PROXY, NORI_DIR_INGRESS, 0);
		return SK_DROP;
	}
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err) {
		nori_count(NORI_DROP_NO_PROXY, NORI_DIR_INGRESS, 0);
		return SK_DROP;
	}
	return SK_PASS;
}
