// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package overlay manages the node's side of the cluster network between
// hosts: the VXLAN device in external (collect-metadata) mode, on which
// the datapath's BPF programs choose the remote node and the VNI of every
// packet, and the routes to other nodes' endpoint CIDRs, through that
// device in tunnel mode or via the other node's underlay address in
// native-routing mode.
//
// Containers' packets to remote endpoints never use these routes in
// tunnel mode: BPF redirects them into the device directly. The routes
// carry what the node itself sends (health probes, the proxy's replies,
// answers to pings of its router address) and, in native mode,
// everything.
//
// All calls act on the network namespace of the calling OS thread, as in
// package datapath.
package overlay
