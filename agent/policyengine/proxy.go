// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policyengine

import (
	"errors"
	"fmt"
	"slices"

	"github.com/nori-net/nori/agent/datapath"
)

// proxyPortLocked is the proxy port for a redirecting key, 0 when no
// listener can serve it: the datapath then drops the key's flows, and
// the failure (kept in proxyErrs) makes the computation retry.
func (e *Engine) proxyPortLocked(dir uint8, l7 string) uint16 {
	if e.cfg.Proxy == nil {
		e.proxyErrs = append(e.proxyErrs, errors.New("policy redirects to the proxy, but the agent runs none: its flows are dropped"))
		return 0
	}
	port, err := e.cfg.Proxy.Port(dir, l7)
	if err != nil {
		e.proxyErrs = append(e.proxyErrs, fmt.Errorf("no proxy listener for a policy redirect, its flows are dropped: %w", err))
		return 0
	}
	return port
}

// proxyNetnsLocked asks the proxy for listeners in the endpoint's own
// netns for the ports its ingress keys redirect to, and reports whether
// the endpoint's flows may go there.
func (e *Engine) proxyNetnsLocked(epID uint16, want map[datapath.PolicyKey]datapath.PolicyValue) bool {
	if e.cfg.Proxy == nil {
		return false
	}
	var ports []uint16
	for k, v := range want {
		if k.Dir == datapath.DirIngress && v.ProxyPort != 0 && !slices.Contains(ports, v.ProxyPort) {
			ports = append(ports, v.ProxyPort)
		}
	}
	slices.Sort(ports)
	return e.cfg.Proxy.InNetns(epID, ports)
}

// retainProxyLocked tells the proxy which listeners the policy maps still
// name, as written or about to be written.
func (e *Engine) retainProxyLocked() {
	if e.cfg.Proxy == nil {
		return
	}
	e.cfg.Proxy.Retain(e.proxyUseLocked())
}

func (e *Engine) proxyUseLocked() map[uint16]int {
	use := map[uint16]int{}
	for _, ep := range e.endpoints {
		for k, v := range ep.want {
			if v.ProxyPort != 0 {
				use[v.ProxyPort]++
			}
			// A key being replaced keeps its old listener until the
			// new value is written.
			if old, ok := ep.applied[k]; ok && old.ProxyPort != 0 && old.ProxyPort != v.ProxyPort {
				use[old.ProxyPort]++
			}
		}
		for k, v := range ep.applied {
			if _, ok := ep.want[k]; !ok && v.ProxyPort != 0 {
				use[v.ProxyPort]++
			}
		}
	}
	return use
}

// Redirects is the number of policy map keys that send flows to the
// proxy, for `nori status`.
func (e *Engine) Redirects() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ep := range e.endpoints {
		for _, v := range ep.applied {
			if v.ProxyPort != 0 {
				n++
			}
		}
	}
	return n
}

// ProxyErrors are the redirects the last computation could not give a
// listener, for `nori status`.
func (e *Engine) ProxyErrors() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, len(e.proxyFailed))
	for i, err := range e.proxyFailed {
		out[i] = err.Error()
	}
	return out
}
