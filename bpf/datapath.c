/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright The Nori Authors. */

/* The one compilation unit of Nori's datapath. Each attach point has its
 * own file (lxc.c: container veths, overlay.c: the VXLAN device, proxy.c:
 * endpoints' netns with a proxy listener), but they
 * are built into a single object so that every program shares the same
 * maps and bpf2go generates each Go type once. */

#include "lib/common.h"
#include "lib/reason.h"
#include "lib/maps.h"
#include "lib/config.h"
#include "lib/pkt.h"
#include "lib/metrics.h"
#include "lib/events.h"
#include "lib/tunnel.h"
#include "lib/conntrack.h"
#include "lib/policy.h"

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
	enum nori_trace_point trace_point;
	enum nori_dir dir;
	enum nori_ep_flags ep_flags;
	enum nori_ipcache_flags ipcache_flags;
	enum nori_config_flags config_flags;
	enum nori_policy_verdict policy_verdict;
	enum nori_policy_flags policy_flags;
	enum nori_ct_flags ct_flags;
	enum nori_marks marks;
};
const struct nori_go_types *nori_unused_go_types __attribute__((unused));

#include "lxc.c"
#include "overlay.c"
#include "proxy.c"
