// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package kvstore is Nori's access to etcd: an embedded single-member etcd
// for one-host setups, and a Store that wraps the etcd client with the
// cluster's key prefix, one session lease per agent kept alive by the agent
// itself, and list-then-watch helpers.
//
// All keys given to a Store are relative to the cluster prefix
// nori/v1/<cluster-name>/, so several clusters can share one etcd. Keys put
// with PutWithLease are remembered: when the session lease is lost (etcd
// unreachable for longer than its TTL) the Store grants a new lease and puts
// them again, so no operator and no heartbeat key are needed.
package kvstore
