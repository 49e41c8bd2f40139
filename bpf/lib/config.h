/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright The Nori Authors. */

/* Access to the node-wide settings in nori_config. */
#ifndef NORI_CONFIG_H
#define NORI_CONFIG_H

#include "maps.h"

/* nori_cfg returns the single nori_config entry. An array map always has
 * it, but the verifier still wants the NULL check at every caller. */
static __always_inline struct nori_node_config *nori_cfg(void)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&nori_config, &key);
}

/* nori_ipcache_lookup finds the longest prefix holding addr (network
 * order). */
static __always_inline struct nori_ipcache_value *nori_ipcache_lookup(__u32 addr)
{
	struct nori_ipcache_key key = { .prefixlen = 32, .ip = addr };

	return bpf_map_lookup_elem(&nori_ipcache, &key);
}

#endif
