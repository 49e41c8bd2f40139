// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package proxylistener runs the agent's transparent proxy listeners
// (issue 5). Every distinct L7 setting the policy maps redirect to gets
// one listener on a loopback port: the datapath assigns a redirected
// flow's packets to it with bpf_sk_assign, so the accepted socket keeps
// the flow's original destination as its local address. The listener is
// registered in the datapath's proxy socket map under its port, which is
// the proxy port the policy map entries name, and served by
// agent/proxy.
package proxylistener
