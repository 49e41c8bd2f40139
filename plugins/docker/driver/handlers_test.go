// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Docker IDs used throughout: 64 hex characters like the real ones.
const (
	net1 = "1111111111111111111111111111111111111111111111111111111111111111"
	net2 = "2222222222222222222222222222222222222222222222222222222222222222"
	ep1  = "aaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	ep2  = "cccccccccccc0000000000000000000000000000000000000000000000000000"
	sbox = "/var/run/docker/netns/0123456789ab"
)

func TestStaticAnswers(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		method, body string
		status       int
		want         string
	}{
		{"Plugin.Activate", "", 200, `{"Implements":["NetworkDriver","IpamDriver"]}`},
		{"NetworkDriver.GetCapabilities", "null", 200, `{"Scope":"local","ConnectivityScope":"local"}`},
		{"IpamDriver.GetCapabilities", "null", 200, `{"RequiresMACAddress":false,"RequiresRequestReplay":false}`},
		{"IpamDriver.GetDefaultAddressSpaces", "null", 200, `{"LocalDefaultAddressSpace":"NoriLocal","GlobalDefaultAddressSpace":"NoriGlobal"}`},
		{"NetworkDriver.DiscoverNew", `{"DiscoveryType":1,"DiscoveryData":{"Address":"192.0.2.1","self":true}}`, 200, `{}`},
		{"NetworkDriver.DiscoverDelete", `{"DiscoveryType":1}`, 200, `{}`},
		{"NetworkDriver.AllocateNetwork", `{"NetworkID":"` + net1 + `"}`, 200, `{}`},
		{"NetworkDriver.FreeNetwork", `{"NetworkID":"` + net1 + `"}`, 200, `{}`},
		{"IpamDriver.ReleasePool", `{"PoolID":"nori:10.99.0.0/24"}`, 200, `{}`},
		// Not advertised (GwAllocChecker false), so 404 like any unknown method.
		{"NetworkDriver.GwAllocCheck", `{}`, 404, `{"Err":"nori-docker does not implement /NetworkDriver.GwAllocCheck"}`},
		{"VolumeDriver.Create", `{}`, 404, `{"Err":"nori-docker does not implement /VolumeDriver.Create"}`},
	} {
		t.Run(tc.method, func(t *testing.T) {
			status, out := h.call(tc.method, tc.body)
			if status != tc.status || out != tc.want {
				t.Errorf("got %d %s, want %d %s", status, out, tc.status, tc.want)
			}
		})
	}
	if len(h.agent.calls) != 0 {
		t.Errorf("static answers called the agent: %v", h.agent.calls)
	}
}

func TestMalformedRequests(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		method, body, want string
	}{
		{"NetworkDriver.CreateEndpoint", `{"NetworkID":"` + net1 + `","EndpointID":"` + ep1 + `","Interface":{"Address":5}}`, "field Interface.Address"},
		{"NetworkDriver.CreateEndpoint", `{"NetworkID":`, "malformed JSON"},
		{"NetworkDriver.CreateEndpoint", `{"NetworkID":"` + net1 + `","EndpointID":"` + ep1 + `"}`, "Interface.Address is empty"},
		{"NetworkDriver.CreateEndpoint", `{"NetworkID":"` + net1 + `","EndpointID":"../etc","Interface":{"Address":"10.99.0.2/32"}}`, "EndpointID"},
		{"NetworkDriver.CreateEndpoint", `{"NetworkID":"` + net1 + `","EndpointID":"` + ep1 + `","Interface":{"Address":"10.99.0.2/32","AddressIPv6":"fd00::2/128"}}`, "IPv6"},
		{"NetworkDriver.CreateEndpoint", `{"NetworkID":"` + net1 + `","EndpointID":"` + ep1 + `","Interface":{"Address":"banana"}}`, "not an IPv4 CIDR"},
		{"NetworkDriver.CreateEndpoint", `{"NetworkID":"` + net1 + `","EndpointID":"` + ep1 + `","Interface":{"Address":"10.99.0.2/32"},"Options":{"com.docker.network.portmap":[{"Proto":1,"Port":80,"HostPort":8080}]}}`, "protocol 1"},
		{"NetworkDriver.CreateNetwork", `{"NetworkID":7}`, "field NetworkID"},
		{"NetworkDriver.CreateNetwork", `{"NetworkID":""}`, "NetworkID is empty"},
		{"NetworkDriver.Join", `{"EndpointID":"` + ep1 + `","SandboxKey":""}`, "SandboxKey is empty"},
		{"NetworkDriver.Join", `{"EndpointID":"` + ep1 + `","SandboxKey":["x"]}`, "field SandboxKey"},
		{"NetworkDriver.DeleteEndpoint", `{"EndpointID":""}`, "EndpointID"},
		{"IpamDriver.RequestPool", `{"V6":"yes"}`, "field V6"},
		{"IpamDriver.RequestAddress", `{"PoolID":"nori:10.99.0.0/24","Address":"fd00::1"}`, "not an IPv4 address"},
		{"IpamDriver.RequestAddress", `{"PoolID":"other"}`, "not a nori pool"},
		{"IpamDriver.ReleaseAddress", `{"PoolID":"nori:10.99.0.0/24","Address":"x"}`, "not an IPv4 address"},
		{"NetworkDriver.ProgramExternalConnectivity", `{"EndpointID":"` + ep1 + `","Options":{"com.docker.network.portmap":"x"}}`, "com.docker.network.portmap"},
	} {
		t.Run(tc.method+"/"+tc.want, func(t *testing.T) {
			status, out := h.call(tc.method, tc.body)
			var e errResponse
			if err := json.Unmarshal([]byte(out), &e); err != nil {
				t.Fatalf("answer %q is not {\"Err\":...}: %v", out, err)
			}
			if status != http.StatusBadRequest || !strings.Contains(e.Err, tc.want) {
				t.Errorf("got %d %q, want 400 naming %q", status, e.Err, tc.want)
			}
		})
	}
}

func TestCreateNetwork(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		wantErr    string
		wantMTU    int
	}{
		{"plain", `{"NetworkID":"` + net1 + `","Options":{"com.docker.network.enable_ipv6":false,"com.docker.network.generic":{}},"IPv4Data":[{"AddressSpace":"NoriLocal","Pool":"10.99.0.0/24","Gateway":"10.99.0.1/24"}]}`, 200, "", 0},
		{"mtu", `{"NetworkID":"` + net1 + `","Options":{"com.docker.network.generic":{"com.docker.network.driver.mtu":"1400"}},"IPv4Data":[{"AddressSpace":"NoriLocal","Pool":"10.99.0.0/24"}]}`, 200, "", 1400},
		{"bad mtu", `{"NetworkID":"` + net1 + `","Options":{"com.docker.network.generic":{"com.docker.network.driver.mtu":"big"}}}`, 400, "com.docker.network.driver.mtu", 0},
		{"docker ipam", `{"NetworkID":"` + net1 + `","IPv4Data":[{"AddressSpace":"LocalDefault","Pool":"172.18.0.0/16"}]}`, 400, "--ipam-driver nori", 0},
		{"ipv6", `{"NetworkID":"` + net1 + `","IPv6Data":[{"AddressSpace":"NoriLocal","Pool":"fd00::/64"}]}`, 400, "IPv6", 0},
		{"generic not an object", `{"NetworkID":"` + net1 + `","Options":{"com.docker.network.generic":"x"}}`, 400, "want an object", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			status, out := h.call("NetworkDriver.CreateNetwork", tc.body)
			if status != tc.status || (tc.wantErr != "" && !strings.Contains(out, tc.wantErr)) || (tc.wantErr == "" && out != "{}") {
				t.Fatalf("got %d %s, want %d %q", status, out, tc.status, tc.wantErr)
			}
			n := h.state().Networks[net1]
			if tc.status != 200 {
				if n != nil {
					t.Errorf("failed CreateNetwork stored %+v", n)
				}
				return
			}
			if n == nil || n.MTU != tc.wantMTU {
				t.Errorf("stored network %+v, want MTU %d", n, tc.wantMTU)
			}
			h.ok("NetworkDriver.DeleteNetwork", `{"NetworkID":"`+net1+`"}`)
			h.ok("NetworkDriver.DeleteNetwork", `{"NetworkID":"`+net1+`"}`) // again: still success
			if len(h.state().Networks) != 0 {
				t.Errorf("networks after delete: %v", h.state().Networks)
			}
		})
	}
}

func TestIPAM(t *testing.T) {
	type step struct {
		method, body string
		status       int
		want         string // exact answer for 200, a substring of Err otherwise
	}
	pool := `"PoolID":"nori:10.99.0.0/24"`
	for _, tc := range []struct {
		name  string
		steps []step
		// allocated is what the agent holds at the end.
		allocated []string
	}{
		{"pool", []step{
			{"IpamDriver.RequestPool", `{"AddressSpace":"NoriLocal","Pool":"","SubPool":"","Options":{},"V6":false}`, 200,
				`{"PoolID":"nori:10.99.0.0/24","Pool":"0.0.0.0/0","Data":{"com.docker.network.gateway":"10.99.0.1/32"}}`},
			{"IpamDriver.RequestPool", `{"AddressSpace":"NoriLocal","Pool":"10.99.0.0/24"}`, 200,
				`{"PoolID":"nori:10.99.0.0/24","Pool":"10.99.0.0/24","Data":{"com.docker.network.gateway":"10.99.0.1/32"}}`},
		}, nil},
		{"pool errors", []step{
			{"IpamDriver.RequestPool", `{"AddressSpace":"NoriLocal","V6":true}`, 400, "IPv6"},
			{"IpamDriver.RequestPool", `{"AddressSpace":"NoriLocal","Pool":"172.20.0.0/16"}`, 400, "node's CIDR 10.99.0.0/24"},
			{"IpamDriver.RequestPool", `{"AddressSpace":"NoriLocal","Pool":"10.99.0.0/24","SubPool":"10.99.0.128/25"}`, 400, "--ip-range"},
		}, nil},
		{"addresses", []step{
			{"IpamDriver.RequestAddress", `{` + pool + `,"Address":"","Options":{}}`, 200, `{"Address":"10.99.0.2/32"}`},
			{"IpamDriver.RequestAddress", `{` + pool + `}`, 200, `{"Address":"10.99.0.3/32"}`},
			{"IpamDriver.RequestAddress", `{` + pool + `,"Address":"10.99.0.50"}`, 200, `{"Address":"10.99.0.50/32"}`},
			{"IpamDriver.RequestAddress", `{` + pool + `,"Address":"10.99.0.50"}`, 409, "held by another container"},
			{"IpamDriver.ReleaseAddress", `{` + pool + `,"Address":"10.99.0.3"}`, 200, `{}`},
			// Unknown and repeated releases succeed.
			{"IpamDriver.ReleaseAddress", `{` + pool + `,"Address":"10.99.0.3"}`, 200, `{}`},
			{"IpamDriver.ReleaseAddress", `{` + pool + `,"Address":"10.99.0.200"}`, 200, `{}`},
		}, []string{"10.99.0.2", "10.99.0.50"}},
		{"gateway", []step{
			{"IpamDriver.RequestAddress", `{` + pool + `,"Options":{"RequestAddressType":"com.docker.network.gateway"}}`, 200, `{"Address":"10.99.0.1/24"}`},
			{"IpamDriver.RequestAddress", `{` + pool + `,"Address":"10.99.0.1","Options":{"RequestAddressType":"com.docker.network.gateway"}}`, 200, `{"Address":"10.99.0.1/24"}`},
			{"IpamDriver.RequestAddress", `{` + pool + `,"Address":"10.99.0.9","Options":{"RequestAddressType":"com.docker.network.gateway"}}`, 400, "node router 10.99.0.1"},
			// Docker releases the gateway it got from the pool's Data.
			{"IpamDriver.ReleaseAddress", `{` + pool + `,"Address":"10.99.0.1"}`, 200, `{}`},
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			for i, s := range tc.steps {
				status, out := h.call(s.method, s.body)
				if status != s.status || (status == 200 && out != s.want) || (status != 200 && !strings.Contains(out, s.want)) {
					t.Fatalf("step %d %s %s: got %d %s, want %d %s", i, s.method, s.body, status, out, s.status, s.want)
				}
			}
			var got []string
			for ip, r := range h.agent.allocs {
				got = append(got, ip)
				if r.Owner != "docker" || !strings.HasPrefix(r.ContainerID, "docker-ipam-") || r.Network != "nori:10.99.0.0/24" {
					t.Errorf("allocation %s = %+v", ip, r)
				}
			}
			if strings.Join(sorted(got), ",") != strings.Join(tc.allocated, ",") {
				t.Errorf("agent holds %v, want %v", sorted(got), tc.allocated)
			}
			if len(h.state().Addresses) != len(tc.allocated) {
				t.Errorf("state holds %v, want %v", h.state().Addresses, tc.allocated)
			}
		})
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestAgentUnreachable(t *testing.T) {
	h := newHarness(t)
	h.ok("NetworkDriver.CreateNetwork", `{"NetworkID":"`+net1+`"}`)
	h.agent.setUnreachable(true)
	for _, tc := range []struct{ method, body string }{
		{"IpamDriver.RequestPool", `{"AddressSpace":"NoriLocal"}`},
		{"IpamDriver.RequestAddress", `{"PoolID":"nori:10.99.0.0/24"}`},
		{"NetworkDriver.CreateEndpoint", `{"NetworkID":"` + net1 + `","EndpointID":"` + ep1 + `","Interface":{"Address":"10.99.0.2/32"}}`},
		{"NetworkDriver.DeleteEndpoint", `{"NetworkID":"` + net1 + `","EndpointID":"` + ep1 + `"}`},
	} {
		t.Run(tc.method, func(t *testing.T) {
			status, out := h.call(tc.method, tc.body)
			var e errResponse
			_ = json.Unmarshal([]byte(out), &e)
			if status != http.StatusServiceUnavailable || !strings.Contains(e.Err, "nori-agent unreachable at "+testSocket) || !strings.Contains(e.Err, "is nori-agent running?") {
				t.Errorf("got %d %q, want 503 naming the agent socket", status, e.Err)
			}
		})
	}
}

func TestPortMappings(t *testing.T) {
	got, err := portMappings(map[string]any{optPortMap: []any{
		map[string]any{"Proto": 6, "IP": "", "Port": 80, "HostIP": "", "HostPort": 8080, "HostPortEnd": 8080},
		map[string]any{"Proto": 17, "Port": 53, "HostIP": "127.0.0.1", "HostPort": 5300, "HostPortEnd": 5301},
	}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	want := `[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":5300,"containerPort":53,"protocol":"udp","hostIP":"127.0.0.1"},{"hostPort":5301,"containerPort":53,"protocol":"udp","hostIP":"127.0.0.1"}]`
	if string(b) != want {
		t.Errorf("portMappings = %s\nwant %s", b, want)
	}
	if got, err := portMappings(nil); got != nil || err != nil {
		t.Errorf("portMappings(nil) = %v, %v", got, err)
	}
}
