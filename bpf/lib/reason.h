/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright The Nori Authors. */

/* Why a packet got its verdict. Values below NORI_DROP_BASE are packets
 * that went on; values from NORI_DROP_BASE up are drops. The numbers are
 * stored in the pinned metrics map and in events, so they never change
 * meaning: add new ones, never renumber. */
#ifndef NORI_REASON_H
#define NORI_REASON_H

enum nori_reason {
	NORI_REASON_PASS = 0,         /* handed to the node stack */
	NORI_REASON_REDIRECT_LOCAL = 1, /* bpf_redirect_peer to a local endpoint */
	NORI_REASON_REDIRECT_TUNNEL = 2, /* encapsulated to a remote node */
	NORI_REASON_REDIRECT_PROXY = 3, /* issue 5: steered to the local proxy */
	NORI_REASON_DECAP_LOCAL = 4,  /* from the overlay, redirected to a local endpoint */
	NORI_REASON_DECAP_HOST = 5,   /* from the overlay, handed to the node stack */
	NORI_REASON_ENCAP_HOST = 6,   /* sent by the node into the overlay, key set */
	NORI_REASON_EVENT_LOST = 64,  /* ring buffer full, an event was not written */

	NORI_DROP_BASE = 128,
	NORI_DROP_INVALID = 130,      /* IPv4 header could not be parsed */
	NORI_DROP_TTL = 131,          /* reserved: TTL exceeded */
	NORI_DROP_POLICY = 133,       /* issue 4: denied by policy */
	NORI_DROP_POLICY_DENY = 134,  /* issue 4: explicit deny rule */
	NORI_DROP_NO_TUNNEL = 135,    /* remote destination without a tunnel endpoint */
	NORI_DROP_REDIRECT = 136,     /* redirect helper failed */
	NORI_DROP_SPOOF = 137,        /* issue 4: source address not the endpoint's */
	NORI_DROP_TUNNEL_KEY = 138,   /* tunnel key could not be read or set */
	NORI_DROP_NO_PROXY = 139,     /* issue 5: the flow's proxy listener is gone */
	NORI_DROP_PROXY_PATH = 140,   /* issue 5: a proxied port reached on a path that cannot steer */
};

#endif
