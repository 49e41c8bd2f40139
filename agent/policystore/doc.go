// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package policystore keeps the cluster's policy rules in etcd, so every
// agent enforces the same set.
//
// Keys (relative to the kvstore cluster prefix):
//
//	policy/head                       {"revision":N,"set":"<id>","chunks":K,"count":C,"sha256":"<hex>"}
//	policy/rules/<id>/<chunk>         JSON array of rules, at most 512 KiB
//
// where <id> is the revision zero-padded to 20 digits, '.', and a random
// tag of the writer, and <chunk> is zero-padded to 6 digits. A set of
// 10 000 rules is several MB, more than one etcd request (1.5 MiB) or
// transaction (128 operations) may carry, so a change writes a new set of
// chunks first and then commits it with one compare-and-swap on the mod
// revision of policy/head; the same transaction deletes every older set.
// Readers read policy/head and then its chunks at the etcd revision the
// head was read at, so they see one whole set or the previous one, never
// a mix. Two agents importing at once both write chunks (the random tag
// keeps them apart); one CAS wins and the other starts again from the new
// head, so no rule is lost.
package policystore
