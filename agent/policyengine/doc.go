// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package policyengine keeps the datapath's policy map in step with the
// cluster's rules. It holds the rules (from etcd), every identity of the
// cluster and the local endpoints; whenever one of them changes it
// resolves the policy of each local endpoint (agent/policy), turns it into
// policy map keys (agent/policymap) and writes only the difference.
//
// CIDR rules need identities for prefixes: the engine allocates them
// locally, from LocalIdentityBase up (as Cilium's local scope does), and
// puts each prefix into the ipcache so the datapath resolves addresses in
// it to that identity. They never leave the node.
//
// A new endpoint's policy is written synchronously, before its endpoint
// map entry carries the enforcement flags, so no packet of it is ever
// judged by a policy that is not there yet.
package policyengine
