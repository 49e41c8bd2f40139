// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package health checks that every node of the cluster can reach every
// other one through the datapath, as cilium-health does. Each agent serves
// GET /hello on its node's health address (the last usable address of its
// node CIDR, port 4240) and probes the health address of every other node
// with ICMP echo and HTTP every few seconds. The result feeds
// `Cluster health: N/N reachable` in `nori status` and the Health column
// of `nori node list`.
package health
