// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package policy reads Cilium's network policy JSON, keeps the imported
// rules in a revisioned Repository, and computes for one endpoint identity
// the verdict entries its BPF policy maps will hold.
//
// The package is pure: no kernel, no etcd. The agent stores the Repository
// in etcd (MarshalJSON / Parse round-trip), calls Resolve whenever rules or
// identities change, and writes the entries to the datapath; Trace answers
// `nori policy trace` with the same code path the datapath entries come
// from, so the two cannot disagree.
//
// Semantics follow Cilium (pkg/policy): a selector key without a source
// matches any source, deny beats allow, and in the "default" enforcement
// mode a direction is enforced once a rule selecting the endpoint has
// rules for it.
package policy
