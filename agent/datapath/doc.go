// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package datapath loads Nori's eBPF programs, pins their maps and links
// under <bpf-root>/nori/, attaches them to container veths and to the VXLAN
// device (AttachOverlay), and gives typed access to the maps.
//
// With ConfigPolicy set, the programs enforce identity-based policy
// (UpsertPolicy) statefully: the first packet of a flow is decided by the
// policy map, its later packets and replies by conntrack (ListCT,
// GCConntrack). Without it they track nothing.
//
// Everything pinned outlives the agent: traffic keeps flowing while the
// agent restarts, and the next Open reuses the maps (with their contents)
// and swaps the programs behind the pinned links without a gap.
//
// All calls act on the network namespace of the calling OS thread. The
// agent runs inside the node's netns (nsenter --net=...), so every thread
// is already there; callers that switch namespaces must lock the thread.
package datapath
