// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package proxylistener runs the agent's proxy listeners (issue 5).
//
// Every distinct L7 setting the policy maps redirect to gets one
// transparent listener on a loopback port of the node: the datapath
// assigns a redirected flow's packets to it with bpf_sk_assign, so the
// accepted socket keeps the flow's original destination as its local
// address. The listener is registered in the datapath's proxy socket map
// under its port, which is the proxy port the policy map entries name, and
// served by agent/proxy.
//
// An endpoint with ingress redirects whose netns the agent knows also gets
// a listener per proxy port inside that netns (netns.go): the datapath's
// sk_lookup program hands its redirected flows there, and the proxy's
// upstream connection stays on the endpoint's loopback.
package proxylistener
