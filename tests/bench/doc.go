// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package bench is `make bench`: it measures Nori against the anchors named
// in issue 2 and prints tables with ratios.
//
//  1. CNI ADD and DEL latency through libcni (cnidriver, run in a simulated
//     host's netns as a runtime would) for Nori and the reference bridge +
//     host-local plugins, interleaved in blocks.
//  2. Same-host container-to-container TCP throughput (iperf3) and 1-byte
//     request/response latency (rr) for Nori, a bare veth pair routed by the
//     kernel (the limit) and the reference bridge plugin.
//
// The benchmark is a Go test behind the `bench` build tag, because the
// simulated-host harness takes a testing.TB:
//
//	NORI_BIN_DIR=$PWD/bin go test -count=1 -tags bench -run TestBench -v -timeout 20m ./tests/bench
//
// It needs root, iperf3 and the reference CNI plugins; a missing one fails
// the run. Everything it creates is removed on return, also after Ctrl-C.
package bench
