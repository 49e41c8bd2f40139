// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package ipcache shares which endpoint address lives on which node through
// etcd, and keeps the datapath's ipcache map and the routes to other nodes
// in step with the cluster state.
//
// Keys (relative to the kvstore cluster prefix):
//
//	ipcache/<ip>   JSON Entry {ip, identity, hostIP, node, created}, tied to
//	               the owning agent's session lease
//
// A Publisher writes the local node's entries without ever making the
// endpoint path wait for etcd. A Syncer watches nodes/ and ipcache/ and
// writes, for every other node, its CIDR (behind a tunnel to the node),
// its underlay address (remote-node), its health address (health) and its
// endpoints; it removes them when they leave etcd (a node whose lease
// expired takes its keys with it), and leaves the datapath as it is while
// etcd is away.
package ipcache
