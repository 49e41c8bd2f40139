/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright The Nori Authors. */

/* Per-CPU counters by reason and direction. */
#ifndef NORI_METRICS_H
#define NORI_METRICS_H

#include "maps.h"
#include "reason.h"

static __always_inline void nori_count(__u8 reason, __u8 dir, __u32 bytes)
{
	struct nori_metrics_key key = { .reason = reason, .dir = dir };
	struct nori_metrics_value *val;

	val = bpf_map_lookup_elem(&nori_metrics, &key);
	if (val) {
		/* Per-CPU value: no other CPU writes it, no atomics needed. */
		val->packets++;
		val->bytes += bytes;
		return;
	}
	struct nori_metrics_value init = { .packets = 1, .bytes = bytes };
	/* A racing insert on another CPU makes this fail; losing one count
	 * the first time a key is seen is acceptable. */
	bpf_map_update_elem(&nori_metrics, &key, &init, BPF_NOEXIST);
}

#endif
