// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package bench is `make bench`: it measures Nori against the anchors named
// in the issues and prints tables with ratios.
//
//  1. CNI ADD and DEL latency through libcni (cnidriver, run in a simulated
//     host's netns as a runtime would) for Nori and the reference bridge +
//     host-local plugins, interleaved in blocks.
//  2. Same-host container-to-container TCP throughput (iperf3) and 1-byte
//     request/response latency (rr) for Nori, a bare veth pair routed by the
//     kernel (the limit) and the reference bridge plugin.
//  3. Cross-host (issue 3), on a second switch with three Nori hosts sharing
//     host 1's embedded store and two plain hosts: TCP throughput and RR
//     latency container to container for Nori's overlay, a flannel-style
//     kernel VXLAN + bridge built by hand, and the bare underlay between
//     host namespaces (the limit).
//  4. Endpoint propagation: 50 endpoints created one after another on host
//     1, each timed from the start of its ADD until a container on host 3
//     gets an ICMP echo reply (and until it is in host 3's BPF ipcache),
//     plus the agents' own ipcachePropagation from `nori status -o json`.
//  5. Policy (issue 4): two containers on one host with 0, 1 000 and
//     10 000 rules loaded (rules that select the server but name other
//     peers and ports, plus the one allowing the client): iperf3, rr and
//     crr (a connection per transaction, like netperf TCP_CRR), beside the
//     same through 0, 1 000 and 10 000 iptables rules in a FORWARD chain
//     (the anchor); and the time from `nori policy import` of 1 000 and
//     10 000 rules on host 1 until every host of three enforces them.
//  6. TLS-terminating proxy (issue 5), on a host of its own with
//     --certificates-directory: HTTPS GET requests/s and p50/p99 from a
//     client container through Nori's terminating proxy (policy
//     terminatingTLS on 443), with keep-alive and with a new connection per
//     request, beside Debian's nginx terminating TLS in front of the same
//     backend (the anchor) and the backend in plain HTTP (the limit). Both
//     get the same client offering X25519 only.
//  7. Docker (issue 6): `docker run --rm --net NET busybox true` on a Nori
//     network (nori-docker) beside a network of Docker's bridge driver,
//     alternated on one dockerd.
//
// The benchmark is a Go test behind the `bench` build tag, because the
// simulated-host harness takes a testing.TB:
//
//	NORI_BIN_DIR=$PWD/bin go test -count=1 -tags bench -run TestBench -v -timeout 20m ./tests/bench
//
// NORI_BENCH_ONLY=cross runs parts 3 and 4 alone, NORI_BENCH_ONLY=policy
// part 5, NORI_BENCH_ONLY=proxy part 6, NORI_BENCH_ONLY=docker part 7.
//
// It needs root, iperf3 and the reference CNI plugins; a missing one fails
// the run. Everything it creates is removed on return, also after Ctrl-C.
package bench
