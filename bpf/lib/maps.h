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
	NORI_EP_F_PROXY = 0x4,          /* issue 4: some port goes to the proxy */
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

/* Events for `nori monitor`: drops now, policy verdicts and traces later. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nori_events SEC(".maps");

#endif
