/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright The Nori Authors. */

/* The only place where Nori's maps are defined. Every map is pinned by
 * name under <bpf-root>/nori/ so that the agent can restart or upgrade
 * without losing state. A pinned map is reused only when its type, key
 * size, value size and max_entries are unchanged, so the structs below
 * carry reserved fields: later features take them instead of growing the
 * structs. Never change an existing layout; add a new map (or a _v2 name)
 * when that is unavoidable. */
#ifndef NORI_MAPS_H
#define NORI_MAPS_H

#include "common.h"

/* Endpoint flags (struct nori_endpoint.flags). Flags are enums, not
 * #defines, so that bpf2go exports them to Go. */
enum nori_ep_flags {
	NORI_EP_F_POLICY_INGRESS = 0x1, /* issue 4: enforce ingress policy */
	NORI_EP_F_POLICY_EGRESS = 0x2,  /* issue 4: enforce egress policy */
	NORI_EP_F_PROXY = 0x4,          /* issue 5: some port goes to the proxy */
	/* issue 5: the endpoint's ingress redirects go to proxy listeners in
	 * its own netns (nori_proxy_lookup, proxy.c), not to the node's. */
	NORI_EP_F_PROXY_NETNS = 0x8,
};

/* A local container, keyed by its IPv4 address in network order. */
struct nori_endpoint {
	__u32 ifindex;   /* host-side veth */
	__u32 identity;  /* security identity */
	__u16 ep_id;     /* agent's endpoint ID */
	__u16 flags;     /* NORI_EP_F_* */
	__u8 mac[6];     /* container side of the veth */
	__u8 node_mac[6]; /* host side of the veth */
	__u32 reserved[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct nori_endpoint);
	__uint(max_entries, 65536);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nori_endpoints SEC(".maps");

/* ipcache: every known address or prefix in the cluster (and outside it)
 * to its identity and, for remote endpoints, the node that hosts it. */
struct nori_ipcache_key {
	__u32 prefixlen; /* LPM: bits of ip that count */
	__u32 ip;        /* network order */
};

enum nori_ipcache_flags {
	NORI_IPC_F_REMOTE = 0x1, /* behind tunnel_endpoint */
};

struct nori_ipcache_value {
	__u32 identity;
	__u32 tunnel_endpoint; /* node IPv4, network order; 0 = local or none */
	__u16 flags;           /* NORI_IPC_F_* */
	__u16 pad;
	__u32 reserved;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct nori_ipcache_key);
	__type(value, struct nori_ipcache_value);
	__uint(max_entries, 512000);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nori_ipcache SEC(".maps");

/* Node-wide settings, written by the agent. Addresses in network order. */
enum nori_config_flags {
	NORI_CFG_F_TUNNEL = 0x1, /* encapsulate to remote nodes (needs tunnel_ifindex) */
	NORI_CFG_F_POLICY = 0x2, /* issue 4: policy enforcement enabled */
	NORI_CFG_F_TRACE = 0x4,  /* emit per-packet trace events */
	/* issue 4: emit a policy-verdict event for every new flow decided by
	 * an enforcing endpoint (set while `nori monitor` listens). */
	NORI_CFG_F_POLICY_VERDICTS = 0x8,
};

struct nori_node_config {
	__u32 router_ip;    /* the containers' gateway address */
	__u32 cluster_cidr; /* cluster pool network */
	__u32 cluster_mask; /* cluster pool netmask */
	__u32 node_ip;      /* underlay address of this node */
	__u32 tunnel_ifindex; /* VXLAN device, 0 = none */
	__u32 flags;        /* NORI_CFG_F_* */
	__u32 reserved[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct nori_node_config);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nori_config SEC(".maps");

/* Per-CPU packet and byte counters by reason and direction. */
struct nori_metrics_key {
	__u8 reason; /* enum nori_reason */
	__u8 dir;    /* enum nori_dir */
	__u16 reserved;
};

struct nori_metrics_value {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct nori_metrics_key);
	__type(value, struct nori_metrics_value);
	__uint(max_entries, 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nori_metrics SEC(".maps");

/* Policy (issue 4): per endpoint and direction, which peer identities
 * may talk on which protocol and port. An LPM trie, so that one entry
 * covers "any protocol", "any port" or a power-of-two port range:
 *   prefixlen 56      = identity, ep_id, dir        (any proto and port)
 *   prefixlen 64      = ... + proto                 (any port)
 *   prefixlen 64 + n  = ... + first n bits of dport (n = 1..16)
 * The identity comes first and is always matched in full, so a lookup
 * for one peer never lands on another peer's entry; identity 0 entries
 * mean "any peer" and are looked up second (see policy.h). */
struct nori_policy_key {
	__u32 prefixlen;
	__u32 identity; /* peer identity, host order; 0 = any peer */
	__u16 ep_id;    /* host order */
	__u8 dir;       /* enum nori_dir */
	__u8 proto;     /* IP protocol; 0 = any */
	__u16 dport;    /* network order, so that bit prefixes are port ranges;
			 * ICMP: the ICMP type as a 16-bit value */
	__u16 pad;
};

enum nori_policy_verdict {
	NORI_POLICY_ALLOW = 1,
	NORI_POLICY_DENY = 2,
};

enum nori_policy_flags {
	NORI_POL_F_REDIRECT = 0x1, /* steer the flow to the proxy at proxy_port */
};

struct nori_policy_value {
	__u8 verdict;     /* enum nori_policy_verdict */
	__u8 flags;       /* NORI_POL_F_* */
	__u16 proxy_port; /* host order */
	__u32 rule_id;    /* agent's cookie, copied into events and conntrack */
	__u64 packets;    /* new flows this entry decided */
	__u32 reserved[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct nori_policy_key);
	__type(value, struct nori_policy_value);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nori_policy SEC(".maps");

/* Conntrack (issue 4). Every flow has two entries, created together: the
 * forward one keyed by the first packet's tuple and the reply one keyed
 * by the reversed tuple (NORI_CT_F_REPLY), so each packet needs a single
 * lookup. ICMP echo uses the identifier as sport for requests and as
 * dport for replies, so that a request from the other side never matches
 * a reply entry. */
struct nori_ct_key {
	__u32 saddr; /* network order */
	__u32 daddr;
	__u16 sport; /* network order */
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

enum nori_ct_flags {
	NORI_CT_F_REPLY = 0x1,      /* this entry is the reply direction */
	NORI_CT_F_SEEN_REPLY = 0x2, /* a reply has been seen */
	NORI_CT_F_CLOSING = 0x4,    /* TCP FIN or RST seen */
	/* issue 5: proxy_port names a listener in the destination's netns,
	 * which nori_proxy_lookup assigns there; the tc programs pass the
	 * flow on as if it had no proxy port. */
	NORI_CT_F_PROXY_NETNS = 0x8,
};

struct nori_ct_value {
	__u64 expires;      /* bpf_ktime_get_ns; an entry past it is absent */
	__u32 flags;        /* NORI_CT_F_* */
	__u32 src_identity; /* of the flow's first packet's source */
	__u32 dst_identity;
	__u32 rule_id;      /* policy entry that allowed it, 0 = none */
	__u16 ep_id;        /* endpoint whose program created it */
	__u16 pad;
	/* issue 5: on the forward entry of a flow steered to the proxy, the
	 * listener's port (host order), so later packets follow the first. */
	__u16 proxy_port;
	__u16 pad2;
	__u32 reserved[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct nori_ct_key);
	__type(value, struct nori_ct_value);
	__uint(max_entries, 1 << 18);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nori_ct SEC(".maps");

/* The agent's proxy listeners (issue 5), keyed by their port (host
 * order): a flow whose policy entry says redirect is assigned to the
 * listener of the entry's proxy_port. An entry vanishes with its socket,
 * so flows to a stopped proxy fail closed. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4096);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nori_proxy_socks SEC(".maps");

/* The agent's proxy listeners inside endpoints' netns (issue 5), keyed
 * by the endpoint's address and the proxy port of the policy entry: an
 * ingress flow to an endpoint with NORI_EP_F_PROXY_NETNS is assigned
 * there by nori_proxy_lookup, so the proxy's upstream connection to the
 * application stays on the endpoint's loopback, as a sidecar's would. */
struct nori_proxy_sock_key {
	__u32 ip;   /* endpoint address, network order */
	__u16 port; /* proxy port, host order */
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__type(key, struct nori_proxy_sock_key);
	__type(value, __u64);
	__uint(max_entries, 16384);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nori_proxy_ns_socks SEC(".maps");

/* Events for `nori monitor`: drops now, policy verdicts and traces later. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nori_events SEC(".maps");

#endif
