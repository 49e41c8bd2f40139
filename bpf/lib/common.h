/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright The Nori Authors. */

/* Constants shared by every Nori program. vmlinux.h carries no #defines,
 * so the few UAPI values the programs need are repeated here. Every
 * global name starts with nori_/NORI_ because vmlinux.h already uses
 * short names such as "config". */
#ifndef NORI_COMMON_H
#define NORI_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define NORI_ETH_P_IP 0x0800
#define NORI_ETH_HLEN 14
#define NORI_IPPROTO_TCP 6
#define NORI_IPPROTO_UDP 17
#define NORI_IPPROTO_ICMP 1
#define NORI_IP_MF 0x2000
#define NORI_IP_OFFSET 0x1fff

/* tc return codes (linux/pkt_cls.h). Under TCX, TC_ACT_OK is TCX_PASS: it
 * ends processing on this hook and hands the packet to the stack. */
#define NORI_TC_ACT_OK 0
#define NORI_TC_ACT_SHOT 2
#define NORI_TC_ACT_REDIRECT 7

/* skb->pkt_type for a packet addressed to this host (linux/if_packet.h). */
#define NORI_PACKET_HOST 0

/* Reserved security identities (as in Cilium). */
#define NORI_IDENTITY_HOST 1        /* this node */
#define NORI_IDENTITY_WORLD 2       /* anything outside the cluster */
#define NORI_IDENTITY_REMOTE_NODE 6 /* another node of the cluster */

/* Direction, seen from the endpoint, as in Cilium's metrics. */
enum nori_dir {
	NORI_DIR_UNKNOWN = 0,
	NORI_DIR_INGRESS = 1, /* into the container */
	NORI_DIR_EGRESS = 2,  /* out of the container */
};

#endif
