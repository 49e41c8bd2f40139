// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package health

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nori-net/nori/agent/api"
)

// Status is the result of the last probe round.
type Status struct {
	LocalName string
	// Nodes are the remote nodes, by name.
	Nodes []NodeStatus
	// LastRound is when the last round ended; zero before the first.
	LastRound time.Time
}

// Status returns the last probe results.
func (p *Prober) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Status{LocalName: p.cfg.LocalName, LastRound: p.round}
	for _, n := range p.nodes {
		st.Nodes = append(st.Nodes, n)
	}
	slices.SortFunc(st.Nodes, func(a, b NodeStatus) int { return strings.Compare(a.Name, b.Name) })
	return st
}

// Counts returns how many nodes are reachable out of all, counting the
// local node as reachable (as cilium-health does).
func (st Status) Counts() (reachable, total int) {
	reachable, total = 1, 1+len(st.Nodes)
	for _, n := range st.Nodes {
		if n.Reachable() {
			reachable++
		}
	}
	return reachable, total
}

// Component is the `Cluster health` line of `nori status`: "N/N
// reachable", followed by the unreachable nodes and why.
func (st Status) Component() api.ComponentStatus {
	r, t := st.Counts()
	msg := fmt.Sprintf("%d/%d reachable", r, t)
	if st.LastRound.IsZero() && len(st.Nodes) == 0 {
		return api.ComponentStatus{State: "Ok", Message: msg + " (first probe pending)"}
	}
	if r == t {
		return api.ComponentStatus{State: "Ok", Message: msg}
	}
	var bad []string
	for _, n := range st.Nodes {
		if !n.Reachable() {
			bad = append(bad, fmt.Sprintf("%s (%s)", n.Name, n.err()))
		}
	}
	return api.ComponentStatus{State: "Warning", Message: msg + ", unreachable: " + strings.Join(bad, ", ")}
}

// NodeHealth is the Health column of `nori node list` for a node:
// "local", "reachable (0.42ms)", "unreachable (reason)", or "unknown"
// before the node was first probed.
func (st Status) NodeHealth(name string) string {
	if name == st.LocalName {
		return "local"
	}
	for _, n := range st.Nodes {
		if n.Name != name {
			continue
		}
		if !n.Reachable() {
			return "unreachable (" + n.err() + ")"
		}
		lat := n.HTTP.Latency
		if n.ICMP != nil {
			lat = n.ICMP.Latency
		}
		return "reachable (" + formatLatency(lat) + ")"
	}
	return "unknown"
}

func formatLatency(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
