// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package bpfobj holds the compiled eBPF object of bpf/ and the Go types
// bpf2go generates from its BTF. There is one object, built from
// bpf/datapath.c, which includes the program file of every attach point,
// so all programs share the maps and every Go type exists once.
// Everything except this file is generated: run
// `go generate ./agent/datapath/bpfobj` after changing bpf/ (needs
// clang-14, llvm-strip-14 and libbpf-dev) and commit the output, so that
// building Nori needs no C toolchain.
package bpfobj

//go:generate go tool bpf2go -cc clang-14 -cflags "-O2 -g -Wall -Werror" -target bpfel -type nori_endpoint -type nori_ipcache_key -type nori_ipcache_value -type nori_node_config -type nori_metrics_key -type nori_metrics_value -type nori_event -type nori_reason -type nori_event_type -type nori_trace_point -type nori_dir -type nori_ep_flags -type nori_ipcache_flags -type nori_config_flags -type nori_policy_key -type nori_policy_value -type nori_policy_verdict -type nori_policy_flags -type nori_ct_key -type nori_ct_value -type nori_ct_flags -type nori_marks -type nori_proxy_sock_key Datapath ../../../bpf/datapath.c -- -I../../../bpf/include -I../../../bpf
