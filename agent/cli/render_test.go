// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cli

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/api"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

var (
	now     = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	testIDa = "default-3f1c9a7b2e4d" + strings.Repeat("0", 52)
)

func testStatus() *api.Status {
	return &api.Status{
		Version: "v0.1.0", NodeName: "host1", ClusterName: "default",
		KVStore:    api.ComponentStatus{State: "Ok", Message: "etcd (embedded): 1/1 connected, leader 127.0.0.1:2379"},
		Datapath:   api.ComponentStatus{State: "Ok", Message: "tcx, 6 programs"},
		IPAM:       api.IPAMStatus{CIDR: "10.0.1.0/24", Router: "10.0.1.1", Allocated: 3, Capacity: 254},
		Endpoints:  2,
		Identities: 7,
		Tunnel:     "vxlan",
		Policy:     "default",
		Masquerade: api.ComponentStatus{State: "Ok", Message: "BPF, to 172.30.0.1"},
		Uptime:     "3m12s",
		Controllers: []api.ControllerStatus{
			{Name: "label-resolution", LastRun: now.Add(-2 * time.Second)},
			{Name: "kvstore-sync", LastRun: now.Add(-65 * time.Minute), LastError: "etcdserver: request timed out"},
			{Name: "ipam-gc"},
		},
	}
}

func testClusterStatus() *api.Status {
	s := testStatus()
	s.Controllers = nil
	s.ClusterSync = &api.ComponentStatus{State: "Ok", Message: "2 remote nodes, 14 remote endpoints, 21 datapath entries, last event 3s ago"}
	s.ClusterHealth = &api.ComponentStatus{State: "Ok", Message: "3/3 reachable"}
	s.Propagation = &api.PropagationStats{Samples: 50, P50Ms: 4.512, P99Ms: 31.07, MaxMs: 40.2}
	return s
}

func testIPCache() []api.BPFIPCacheEntry {
	return []api.BPFIPCacheEntry{
		{Prefix: "10.0.1.7/32", Identity: 30012},
		{Prefix: "10.0.2.0/24", TunnelEndpoint: "172.30.0.2", Flags: []string{"remote"}},
		{Prefix: "10.0.2.9/32", Identity: 48213, TunnelEndpoint: "172.30.0.2", Flags: []string{"remote"}},
		{Prefix: "10.0.2.254/32", Identity: 4, TunnelEndpoint: "172.30.0.2", Flags: []string{"remote"}},
		{Prefix: "172.30.0.1/32", Identity: 1},
		{Prefix: "172.30.0.2/32", Identity: 6},
	}
}

func testTunnels() []api.BPFTunnelEntry {
	return []api.BPFTunnelEntry{
		{Prefix: "10.0.2.0/24", TunnelEndpoint: "172.30.0.2"},
		{Prefix: "10.0.3.0/24", TunnelEndpoint: "172.30.0.3"},
	}
}

func testEndpoints() []api.Endpoint {
	return []api.Endpoint{
		{ID: 2921, ContainerID: "b7e0" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab", Name: "db",
			Labels: []string{"container:app=db"}, Identity: 48213, IPv4: "10.0.1.23", State: api.StateReady,
			PolicyIngress: true},
		{ID: 517, ContainerID: testIDa, Name: "web1",
			Labels: []string{"container:tier=front", "container:app=web"}, Identity: 30012, IPv4: "10.0.1.7",
			State: api.StateReady},
		{ID: 1033, ContainerID: testIDa, Labels: []string{"reserved:init"}, Identity: 5, IPv4: "10.0.1.9",
			State: api.StateWaitingForIdentity},
	}
}

const testPolicyJSON = `[{"endpointSelector":{"matchLabels":{"any:name":"app2"}},"ingress":[{"fromEndpoints":[{"matchLabels":{"any:name":"app1"}}],"toPorts":[{"ports":[{"port":"443","protocol":"TCP"}]}]}],"labels":["unspec:name=allow-app1"]}]`

func testTrace() *api.PolicyTrace {
	return &api.PolicyTrace{Verdict: "allow", Lines: []string{
		"Tracing [container:name=app1] -> [container:name=app2] 443/TCP (policy revision 12, mode default)",
		"  egress of the source: policy not enforced, allowed",
		"  ingress of the destination: allowed by rule 0 [unspec:name=allow-app1] (peer 30012, TCP 443)",
		"Final verdict: ALLOWED",
	}}
}

func testBPFPolicy() []api.BPFPolicyEntry {
	return []api.BPFPolicyEntry{
		{EndpointID: 517, Direction: "ingress", Identity: 30012, IdentityLabels: []string{"container:name=app1", "container:app=web"},
			Proto: "tcp", Port: 443, Verdict: "allow", Redirect: true, ProxyPort: 15001, RuleID: 3, Packets: 42},
		{EndpointID: 517, Direction: "ingress", Identity: 2, IdentityLabels: []string{"reserved:world"},
			Proto: "tcp", Port: 5432, Verdict: "deny", RuleID: 4, Packets: 7},
		{EndpointID: 517, Direction: "egress", Proto: "any", Verdict: "allow", RuleID: 5},
		{EndpointID: 12, Direction: "ingress", Identity: 48213, IdentityLabels: []string{"container:app=db"},
			Proto: "udp", Port: 8000, EndPort: 8080, Verdict: "allow", RuleID: 6},
		{EndpointID: 12, Direction: "egress", Identity: 1, IdentityLabels: []string{"reserved:host"},
			Proto: "tcp", Port: 8192, PortPrefix: 13, Verdict: "allow"},
		{EndpointID: 12, Direction: "egress", Identity: 48213, IdentityLabels: []string{"container:app=db"},
			Proto: "sctp", Verdict: "allow"},
	}
}

func testCT() []api.BPFCTEntry {
	return []api.BPFCTEntry{
		{Proto: "tcp", Src: "10.0.1.7:40000", Dst: "10.0.1.23:5432", SrcIdentity: 30012, DstIdentity: 48213,
			EndpointID: 517, ExpiresSeconds: 21593, Flags: "seen-reply"},
		{Proto: "tcp", Src: "10.0.1.23:5432", Dst: "10.0.1.7:40000", Reply: true, SrcIdentity: 30012, DstIdentity: 48213,
			EndpointID: 517, ExpiresSeconds: 21593, Flags: "reply,seen-reply"},
		{Proto: "icmp", Src: "10.0.1.7", Dst: "10.0.2.9", SrcIdentity: 30012, ExpiresSeconds: 58},
	}
}

func testMonitorEvents() []api.MonitorEvent {
	return []api.MonitorEvent{
		{Time: now, Type: api.MonitorDrop, Reason: "drop-policy", Direction: "ingress", EndpointID: 2921, EndpointName: "db",
			SrcIdentity: 30012, SrcLabels: []string{"container:tier=front", "container:app=web"}, DstIdentity: 48213,
			DstLabels: []string{"container:app=db"}, Src: "10.0.1.7:40000", Dst: "10.0.1.23:5432", Proto: "tcp"},
		{Time: now.Add(1500 * time.Microsecond), Type: api.MonitorPolicyVerdict, Verdict: "allow", Direction: "egress",
			EndpointID: 517, SrcIdentity: 30012, DstIdentity: 2, DstLabels: []string{"reserved:world"}, RuleID: 5,
			Rule: []string{"unspec:name=allow-egress"}, Src: "10.0.1.7:40001", Dst: "1.1.1.1:443", Proto: "tcp"},
		{Time: now.Add(2 * time.Second), Type: api.MonitorPolicyVerdict, Verdict: "redirect", Direction: "ingress",
			EndpointID: 517, SrcIdentity: 48213, DstIdentity: 30012, RuleID: 3, ProxyPort: 15001,
			Src: "10.0.1.23:40002", Dst: "10.0.1.7:443", Proto: "tcp"},
		{Time: now.Add(3 * time.Second), Type: api.MonitorTrace, Reason: "to-overlay", Direction: "egress", EndpointID: 517,
			SrcIdentity: 30012, TunnelEndpoint: "172.30.0.2", Src: "10.0.1.7", Dst: "10.0.2.9", Proto: "icmp"},
		{Time: now.Add(4 * time.Second), Type: api.MonitorDrop, Reason: "drop-something-new", Proto: "any"},
		{Time: now.Add(5 * time.Second), Type: api.MonitorL7, Verdict: "allow", Direction: "ingress", EndpointID: 517,
			EndpointName: "web1", SrcIdentity: 48213, DstIdentity: 30012, Src: "10.0.1.23:40002", Dst: "10.0.1.7:443",
			Proto: "tcp", HTTP: &api.MonitorHTTP{Method: "GET", Host: "web", Path: "/api/v1", Status: 200, LatencyMs: 1.25, RequestID: "7f3a"}},
		{Time: now.Add(6 * time.Second), Type: api.MonitorLost, Lost: 17},
	}
}

func TestRenderers(t *testing.T) {
	ep := testEndpoints()[1]
	ep.Runtime, ep.Network, ep.IfName = "nerdctl", "nori", "eth0"
	ep.HostIfName, ep.HostIfIndex, ep.MAC = "lxc1a2b3c4d5e6f", 14, "6e:5d:4c:3b:2a:19"
	ep.Netns = "/proc/4242/ns/net"
	ep.PortMappings = []api.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "TCP"}, {HostPort: 5353, ContainerPort: 53, Protocol: "udp", HostIP: "127.0.0.1"}}
	ep.Created = now
	ep.Extra = map[string]string{"Image": "busybox"}
	ep.PolicyRevision = 12

	tests := []struct {
		golden string
		render func(*bytes.Buffer) error
	}{
		{"status.golden", func(b *bytes.Buffer) error { return RenderStatus(b, testStatus(), false, now) }},
		{"status-verbose.golden", func(b *bytes.Buffer) error { return RenderStatus(b, testStatus(), true, now) }},
		{"status-minimal.golden", func(b *bytes.Buffer) error { return RenderStatus(b, &api.Status{}, true, now) }},
		{"endpoint-list.golden", func(b *bytes.Buffer) error { return RenderEndpoints(b, testEndpoints()) }},
		{"endpoint-list-empty.golden", func(b *bytes.Buffer) error { return RenderEndpoints(b, nil) }},
		{"endpoint-get.golden", func(b *bytes.Buffer) error { return RenderEndpoint(b, &ep) }},
		{"identity-list.golden", func(b *bytes.Buffer) error {
			return RenderIdentities(b, []api.Identity{
				{ID: 30012, Labels: []string{"container:tier=front", "container:app=web"}},
				{ID: 1, Labels: []string{"reserved:host"}, Reserved: true},
				{ID: 2, Labels: []string{"reserved:world"}, Reserved: true},
			})
		}},
		{"node-list.golden", func(b *bytes.Buffer) error {
			return RenderNodes(b, []api.Node{
				{Name: "host2", IPv4: "172.30.0.2", IPv4CIDR: "10.0.2.0/24", Health: "reachable"},
				{Name: "host1", IPv4: "172.30.0.1", IPv4CIDR: "10.0.1.0/24", Local: true},
			})
		}},
		{"node-list-health.golden", func(b *bytes.Buffer) error {
			return RenderNodes(b, []api.Node{
				{Name: "host3", IPv4: "172.30.0.3", IPv4CIDR: "10.0.3.0/24", Health: "unreachable (icmp: timeout, http: timeout)"},
				{Name: "host2", IPv4: "172.30.0.2", IPv4CIDR: "10.0.2.0/24", Health: "reachable (0.42ms)"},
				{Name: "host1", IPv4: "172.30.0.1", IPv4CIDR: "10.0.1.0/24", Health: "local", Local: true},
			})
		}},
		{"status-cluster.golden", func(b *bytes.Buffer) error { return RenderStatus(b, testClusterStatus(), true, now) }},
		{"status-cluster-unhealthy.golden", func(b *bytes.Buffer) error {
			s := testClusterStatus()
			s.ClusterHealth = &api.ComponentStatus{State: "Warning", Message: "2/3 reachable, unreachable: host3 (icmp: timeout, http: timeout)"}
			s.ClusterSync = &api.ComponentStatus{State: "Warning", Message: "waiting for the initial sync: 0 remote nodes, 0 remote endpoints, 0 datapath entries"}
			return RenderStatus(b, s, false, now)
		}},
		{"bpf-ipcache-list.golden", func(b *bytes.Buffer) error { return RenderIPCache(b, testIPCache()) }},
		{"bpf-ipcache-list-empty.golden", func(b *bytes.Buffer) error { return RenderIPCache(b, nil) }},
		{"bpf-tunnel-list.golden", func(b *bytes.Buffer) error { return RenderTunnels(b, testTunnels()) }},
		{"bpf-metrics-list.golden", func(b *bytes.Buffer) error {
			return RenderMetrics(b, []api.BPFMetric{
				{Reason: "drop-policy", Drop: true, Direction: "ingress", Packets: 3, Bytes: 222},
				{Reason: "redirect-local", Direction: "egress", Packets: 1200, Bytes: 96000},
			})
		}},
		{"policy-get.golden", func(b *bytes.Buffer) error {
			return RenderPolicy(b, &api.PolicyGet{Revision: 12, Rules: []byte(testPolicyJSON)})
		}},
		{"policy-get-empty.golden", func(b *bytes.Buffer) error { return RenderPolicy(b, &api.PolicyGet{Revision: 1}) }},
		{"policy-trace.golden", func(b *bytes.Buffer) error { return RenderPolicyTrace(b, testTrace()) }},
		{"policy-trace-no-final-line.golden", func(b *bytes.Buffer) error {
			return RenderPolicyTrace(b, &api.PolicyTrace{Verdict: "deny", Lines: []string{"Tracing [a] -> [b] 80/TCP"}})
		}},
		{"bpf-policy-list.golden", func(b *bytes.Buffer) error { return RenderBPFPolicy(b, testBPFPolicy()) }},
		{"bpf-policy-list-empty.golden", func(b *bytes.Buffer) error { return RenderBPFPolicy(b, nil) }},
		{"bpf-ct-list.golden", func(b *bytes.Buffer) error { return RenderCT(b, testCT()) }},
		{"monitor.golden", func(b *bytes.Buffer) error {
			for _, ev := range testMonitorEvents() {
				if err := RenderMonitorEvent(b, ev, time.UTC); err != nil {
					return err
				}
			}
			return nil
		}},
		{"version.golden", func(b *bytes.Buffer) error {
			return RenderVersion(b, api.Version{Version: "v0.1.0", GoVersion: "go1.26.8"}, &api.Version{Version: "v0.1.0", GoVersion: "go1.26.8"}, nil)
		}},
		{"version-unreachable.golden", func(b *bytes.Buffer) error {
			return RenderVersion(b, api.Version{Version: "dev", GoVersion: "go1.26.8"}, nil, errors.New("nori-agent unreachable at /x.sock"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.render(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, b.Bytes())
		})
	}
}

func TestShortID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"default-0123456789abcdef0123", "0123456789ab"},
		{"0123456789abcdef", "0123456789ab"},
		{"short", "short"},
		{"a-b", "a-b"},
	}
	for _, tt := range tests {
		if got := shortID(tt.in); got != tt.want {
			t.Errorf("shortID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAgo(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "just now"},
		{1500 * time.Millisecond, "2s ago"},
		{59 * time.Second, "59s ago"},
		{10 * time.Minute, "10m ago"},
		{65 * time.Minute, "1h5m ago"},
	}
	for _, tt := range tests {
		if got := ago(now.Add(-tt.d), now); got != tt.want {
			t.Errorf("ago(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := ago(time.Time{}, now); got != "never" {
		t.Errorf("ago(zero) = %q, want never", got)
	}
}
