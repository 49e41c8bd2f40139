// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/tests/harness"
)

// testMonitor: `nori monitor --type drop -o json` reports the dropped SYN of
// a denied connection, and no drop for an allowed one.
func (e *policyEnv) testMonitor(t *testing.T) {
	e.agentsAlive(t)
	t.Cleanup(func() { e.resetPolicy(t) })
	app2, app3, app1 := e.ctr(t, "app2@h1"), e.ctr(t, "app3@h1"), e.ctr(t, "app1@h1")
	e.importPolicy(t, e.h["h3"], examplePolicy("app1-to-app2.json"), nil)
	expect(t, app3, app2, port443, harness.Blocked)
	id2 := e.mustEndpoint(t, app2).Identity
	id3 := e.mustEndpoint(t, app3).Identity
	id1 := e.mustEndpoint(t, app1).Identity
	m := startMonitor(t, e.h["h1"], "--type", "drop", "-o", "json")
	// Denied: a SYN app3 → app2:443, dropped on app2's ingress.
	ev, line := m.waitEvent(t, "drop app3 → app2", func() {
		_, _ = harness.ProbeTCP(app3.ns, hostPort(app2.ip, port443), 300*time.Millisecond)
	}, func(ev api.MonitorEvent) bool {
		return ev.Type == api.MonitorDrop && ev.SrcIdentity == id3 && ev.DstIdentity == id2
	})
	if !strings.HasPrefix(ev.Src, app3.ip+":") || ev.Dst != hostPort(app2.ip, port443) || ev.Reason == "" {
		t.Errorf("drop event: want src %s:*, dst %s, a reason: %s", app3.ip, hostPort(app2.ip, port443), line)
	}
	if !strings.EqualFold(ev.Proto, "tcp") {
		t.Errorf("drop event proto %q, want tcp: %s", ev.Proto, line)
	}
	t.Logf("drop event: %s", line)
	// An allowed connection is no drop.
	expect(t, app1, app2, port443, harness.Open)
	for quiet := time.After(time.Second); ; {
		select {
		case line := <-m.lines:
			if ev, err := decodeEvent(line); err == nil && ev.Type == api.MonitorDrop && ev.SrcIdentity == id1 && ev.DstIdentity == id2 {
				t.Errorf("allowed app1 → app2 reported as a drop: %s", line)
			}
			continue
		case <-quiet:
		}
		break
	}

	// Policy verdicts are switched on in the datapath while someone
	// listens for them: an allowed new flow app1 → app2:443 shows up with
	// the rule that allowed it.
	v := startMonitor(t, e.h["h1"], "--type", "policy-verdict", "-o", "json")
	ev, line = v.waitEvent(t, "policy-verdict app1 → app2", func() {
		_, _ = harness.ProbeTCP(app1.ns, hostPort(app2.ip, port443), 300*time.Millisecond)
	}, func(ev api.MonitorEvent) bool {
		return ev.Type == api.MonitorPolicyVerdict && ev.SrcIdentity == id1 && ev.DstIdentity == id2
	})
	if ev.Verdict != "allow" || ev.Direction != "ingress" || ev.Dst != hostPort(app2.ip, port443) || len(ev.Rule) == 0 {
		t.Fatalf("policy verdict: want allow, ingress, dst %s and the rule's labels: %s", hostPort(app2.ip, port443), line)
	}
	t.Logf("policy-verdict event: %s", line)
}

// waitEvent repeats probe and reads the monitor's lines until one
// matches, for at most 15 s; every line must be JSON.
func (m *monitor) waitEvent(t *testing.T, what string, probe func(), match func(api.MonitorEvent) bool) (api.MonitorEvent, string) {
	t.Helper()
	var seen []string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		if m.exited() {
			t.Fatalf("nori monitor exited: %s\nlines: %v", m.stderr, seen)
		}
		probe()
		for drain := time.After(300 * time.Millisecond); ; {
			var line string
			select {
			case line = <-m.lines:
			case <-drain:
			}
			if line == "" {
				break
			}
			seen = append(seen, line)
			ev, err := decodeEvent(line)
			if err != nil {
				t.Fatalf("nori monitor -o json printed a line that is not JSON: %v: %q", err, line)
			}
			if match(ev) {
				return ev, line
			}
		}
	}
	t.Fatalf("no %s event within 15 s; lines seen:\n%s\nstderr: %s", what, strings.Join(seen, "\n"), m.stderr)
	return api.MonitorEvent{}, ""
}
