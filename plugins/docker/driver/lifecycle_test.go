// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/docker/dockerapi"
)

func createEndpointBody(nid, eid, addr, mac string) string {
	return `{"NetworkID":"` + nid + `","EndpointID":"` + eid + `","Interface":{"Address":"` + addr + `","AddressIPv6":"","MacAddress":"` + mac + `"},` +
		`"Options":{"com.docker.network.endpoint.exposedports":[{"Proto":6,"Port":80}],"com.docker.network.portmap":[{"Proto":6,"IP":"","Port":80,"HostIP":"","HostPort":8080,"HostPortEnd":8080}]}}`
}

func joinBody(nid, eid string) string {
	return `{"NetworkID":"` + nid + `","EndpointID":"` + eid + `","SandboxKey":"` + sbox + `","Options":{}}`
}

func TestEndpointLifecycle(t *testing.T) {
	h := newHarness(t)
	h.ok("NetworkDriver.CreateNetwork", `{"NetworkID":"`+net1+`","Options":{"com.docker.network.generic":{"com.docker.network.driver.mtu":"1400"}},"IPv4Data":[{"AddressSpace":"NoriLocal","Pool":"10.99.0.0/24"}]}`)
	h.ok("NetworkDriver.CreateNetwork", `{"NetworkID":"`+net2+`","IPv4Data":[{"AddressSpace":"NoriLocal","Pool":"10.99.0.0/24"}]}`)

	// CreateEndpoint: the agent creates the veth in the host namespace.
	out := h.ok("NetworkDriver.CreateEndpoint", createEndpointBody(net1, ep1, "10.99.0.2/32", ""))
	if want := `{"Interface":{"MacAddress":"02:00:00:00:00:02"}}`; out != want {
		t.Errorf("CreateEndpoint = %s, want %s", out, want)
	}
	att := api.Attachment{ContainerID: ep1, IfName: "tmpaaaaaaaaaaaa"}
	req := h.agent.endpoints[att]
	if req == nil {
		t.Fatalf("agent has no endpoint %+v: %v", att, h.agent.endpoints)
	}
	if !req.SkipNetnsSetup || req.Netns != "" || req.Runtime != "docker" || req.MTU != 1400 ||
		req.Network != net1[:12] || len(req.IPs) != 1 || req.IPs[0].Address != "10.99.0.2/32" ||
		len(req.PortMappings) != 1 || req.PortMappings[0].HostPort != 8080 {
		t.Errorf("agent got %+v", req)
	}
	// A MAC Docker chose is Docker's: the answer must not change it.
	out = h.ok("NetworkDriver.CreateEndpoint", createEndpointBody(net2, ep2, "10.99.0.3/32", "02:42:ac:11:00:02"))
	if out != `{}` {
		t.Errorf("CreateEndpoint with Docker's MAC = %s, want {}", out)
	}

	// The first nori endpoint of a sandbox gets the gateway and the
	// connected route to it; a second nori network must not ask for the
	// same route again (the kernel answers "file exists").
	out = h.ok("NetworkDriver.Join", joinBody(net1, ep1))
	if want := `{"InterfaceName":{"SrcName":"tmpaaaaaaaaaaaa","DstPrefix":"eth"},"Gateway":"10.99.0.1","StaticRoutes":[{"Destination":"10.99.0.1/32","RouteType":1},{"Destination":"10.104.0.0/13","RouteType":0,"NextHop":"10.99.0.1"},{"Destination":"10.100.0.0/14","RouteType":0,"NextHop":"10.99.0.1"},{"Destination":"10.96.0.0/15","RouteType":0,"NextHop":"10.99.0.1"},{"Destination":"10.98.0.0/16","RouteType":0,"NextHop":"10.99.0.1"},{"Destination":"10.99.128.0/17","RouteType":0,"NextHop":"10.99.0.1"},{"Destination":"10.99.64.0/18","RouteType":0,"NextHop":"10.99.0.1"},{"Destination":"10.99.32.0/19","RouteType":0,"NextHop":"10.99.0.1"},{"Destination":"10.99.16.0/20","RouteType":0,"NextHop":"10.99.0.1"},{"Destination":"10.99.8.0/21","RouteType":0,"NextHop":"10.99.0.1"},{"Destination":"10.99.4.0/22","RouteType":0,"NextHop":"10.99.0.1"},{"Destination":"10.99.2.0/23","RouteType":0,"NextHop":"10.99.0.1"},{"Destination":"10.99.1.0/24","RouteType":0,"NextHop":"10.99.0.1"}],"DisableGatewayService":true}`; out != want {
		t.Errorf("Join = %s\nwant %s", out, want)
	}
	out = h.ok("NetworkDriver.Join", joinBody(net2, ep2))
	if want := `{"InterfaceName":{"SrcName":"tmpcccccccccccc","DstPrefix":"eth"},"DisableGatewayService":true}`; out != want {
		t.Errorf("second Join in the sandbox = %s\nwant %s", out, want)
	}
	// Joining again (Docker re-joins after removing a legacy link) keeps
	// the routes with the endpoint that has them.
	h.ok("NetworkDriver.Leave", `{"NetworkID":"`+net1+`","EndpointID":"`+ep1+`"}`)
	if _, ok := h.agent.endpoints[att]; !ok {
		t.Fatal("Leave deleted the agent endpoint; Docker may join it again")
	}
	out = h.ok("NetworkDriver.Join", joinBody(net1, ep1))
	if !strings.Contains(out, `"Gateway":"10.99.0.1"`) {
		t.Errorf("re-Join after Leave = %s, want the gateway again", out)
	}

	var info endpointInfoResponse
	if err := json.Unmarshal([]byte(h.ok("NetworkDriver.EndpointOperInfo", `{"NetworkID":"`+net1+`","EndpointID":"`+ep1+`"}`)), &info); err != nil {
		t.Fatal(err)
	}
	if info.Value["hostInterface"] != "lxcaaaaaaaaaaa" || info.Value["address"] != "10.99.0.2/32" {
		t.Errorf("EndpointOperInfo = %v", info.Value)
	}
	if out := h.ok("NetworkDriver.EndpointOperInfo", `{"NetworkID":"`+net1+`","EndpointID":"unknown"}`); out != `{"Value":{}}` {
		t.Errorf("EndpointOperInfo(unknown) = %s", out)
	}

	h.ok("NetworkDriver.ProgramExternalConnectivity", `{"NetworkID":"`+net1+`","EndpointID":"`+ep1+`","Options":{"com.docker.network.portmap":[{"Proto":17,"Port":53,"HostPort":5353,"HostPortEnd":5353}]}}`)
	if pm := h.state().Endpoints[ep1].PortMappings; len(pm) != 1 || pm[0].Protocol != "udp" {
		t.Errorf("port mappings after ProgramExternalConnectivity: %+v", pm)
	}
	h.ok("NetworkDriver.RevokeExternalConnectivity", `{"NetworkID":"`+net1+`","EndpointID":"`+ep1+`"}`)
	if pm := h.state().Endpoints[ep1].PortMappings; pm != nil {
		t.Errorf("port mappings after RevokeExternalConnectivity: %+v", pm)
	}

	for _, e := range []struct{ nid, eid string }{{net1, ep1}, {net2, ep2}} {
		h.ok("NetworkDriver.Leave", `{"NetworkID":"`+e.nid+`","EndpointID":"`+e.eid+`"}`)
		h.ok("NetworkDriver.DeleteEndpoint", `{"NetworkID":"`+e.nid+`","EndpointID":"`+e.eid+`"}`)
		// Docker may repeat a delete whose answer it lost.
		h.ok("NetworkDriver.DeleteEndpoint", `{"NetworkID":"`+e.nid+`","EndpointID":"`+e.eid+`"}`)
	}
	if len(h.agent.endpoints) != 0 || len(h.state().Endpoints) != 0 {
		t.Errorf("left behind: agent %v, state %v", h.agent.endpoints, h.state().Endpoints)
	}
}

func TestJoinUnknownEndpoint(t *testing.T) {
	h := newHarness(t)
	status, out := h.call("NetworkDriver.Join", joinBody(net1, ep1))
	if status != 500 || !strings.Contains(out, "unknown to nori-docker") {
		t.Errorf("Join(unknown) = %d %s", status, out)
	}
}

// TestRestart checks that a restarted nori-docker continues from its
// state file: it joins and deletes what its predecessor created and
// releases its addresses.
func TestRestart(t *testing.T) {
	h := newHarness(t)
	h.ok("NetworkDriver.CreateNetwork", `{"NetworkID":"`+net1+`","Options":{"com.docker.network.generic":{"com.docker.network.driver.mtu":"1400"}}}`)
	h.ok("IpamDriver.RequestAddress", `{"PoolID":"nori:10.99.0.0/24"}`)
	h.ok("NetworkDriver.CreateEndpoint", createEndpointBody(net1, ep1, "10.99.0.2/32", ""))

	h.start()
	if n := h.state().Networks[net1]; n == nil || n.MTU != 1400 {
		t.Fatalf("network after restart: %+v", n)
	}
	out := h.ok("NetworkDriver.Join", joinBody(net1, ep1))
	if !strings.Contains(out, `"SrcName":"tmpaaaaaaaaaaaa"`) || !strings.Contains(out, `"Gateway":"10.99.0.1"`) {
		t.Errorf("Join after restart = %s", out)
	}
	h.ok("NetworkDriver.Leave", `{"NetworkID":"`+net1+`","EndpointID":"`+ep1+`"}`)
	h.ok("NetworkDriver.DeleteEndpoint", `{"NetworkID":"`+net1+`","EndpointID":"`+ep1+`"}`)
	h.ok("IpamDriver.ReleaseAddress", `{"PoolID":"nori:10.99.0.0/24","Address":"10.99.0.2"}`)
	if len(h.agent.endpoints) != 0 || len(h.agent.allocs) != 0 {
		t.Errorf("left in the agent: %v %v", h.agent.endpoints, h.agent.allocs)
	}
}

// TestDeleteEndpointWithoutState covers a lost state file: the attachment
// is derived from the endpoint ID, so the agent endpoint still goes.
func TestDeleteEndpointWithoutState(t *testing.T) {
	h := newHarness(t)
	h.ok("NetworkDriver.CreateEndpoint", createEndpointBody(net1, ep1, "10.99.0.2/32", ""))
	h.d.cfg.State.Update(func(s *stateData) error { clear(s.Endpoints); return nil })
	h.ok("NetworkDriver.DeleteEndpoint", `{"NetworkID":"`+net1+`","EndpointID":"`+ep1+`"}`)
	if len(h.agent.endpoints) != 0 {
		t.Errorf("agent endpoint left: %v", h.agent.endpoints)
	}
}

func TestLabels(t *testing.T) {
	for _, tc := range []struct {
		name       string
		delay      int  // polls before Docker lists the container
		noRoute    bool // agent without PathLabels
		wantLabels bool
	}{
		{"listed at once", 0, false, true},
		{"listed after Join returned", 3, false, true},
		{"agent lacks the route", 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.docker.delay = tc.delay
			h.docker.endpoints[ep1] = "c0ffee"
			h.docker.containers["c0ffee"] = &dockerapi.Container{ID: "c0ffee", Name: "app1", Labels: map[string]string{"name": "app1"}}
			h.agent.noLabels = tc.noRoute
			h.ok("NetworkDriver.CreateNetwork", `{"NetworkID":"`+net1+`"}`)
			h.ok("NetworkDriver.CreateEndpoint", createEndpointBody(net1, ep1, "10.99.0.2/32", ""))
			h.ok("NetworkDriver.Join", joinBody(net1, ep1))
			h.d.Wait()

			if !tc.wantLabels {
				if len(h.agent.labels) != 0 {
					t.Errorf("labels recorded: %v", h.agent.labels)
				}
				return
			}
			if len(h.agent.labels) != 1 {
				t.Fatalf("agent got %d label calls, want 1", len(h.agent.labels))
			}
			got := h.agent.labels[0]
			if got.ContainerID != ep1 || got.IfName != "tmpaaaaaaaaaaaa" || got.Runtime != "docker" ||
				got.RuntimeContainerID != "c0ffee" || got.Name != "app1" || got.Labels["name"] != "app1" || got.Network != "nori-net" || got.Netns != sbox {
				t.Errorf("agent got %+v", got)
			}
			if ep := h.state().Endpoints[ep1]; ep.ContainerID != "c0ffee" || ep.Name != "app1" {
				t.Errorf("state endpoint %+v", ep)
			}
		})
	}
}

// TestLabelsEndpointGone: an endpoint deleted before Docker lists its
// container ends the lookup instead of polling until the timeout.
func TestLabelsEndpointGone(t *testing.T) {
	h := newHarness(t)
	h.docker.delay = 1 << 30 // never listed
	h.ok("NetworkDriver.CreateEndpoint", createEndpointBody(net1, ep1, "10.99.0.2/32", ""))
	h.ok("NetworkDriver.Join", joinBody(net1, ep1))
	h.ok("NetworkDriver.Leave", `{"NetworkID":"`+net1+`","EndpointID":"`+ep1+`"}`)
	h.ok("NetworkDriver.DeleteEndpoint", `{"NetworkID":"`+net1+`","EndpointID":"`+ep1+`"}`)
	done := make(chan struct{})
	go func() { h.d.Wait(); close(done) }()
	select {
	case <-done:
	case <-timeAfter(3):
		t.Fatal("label lookup still running after the endpoint was deleted")
	}
}

// TestResume: a restart picks up joined endpoints whose container was
// not known yet.
func TestResume(t *testing.T) {
	h := newHarness(t)
	h.docker.delay = 1 << 30
	h.ok("NetworkDriver.CreateEndpoint", createEndpointBody(net1, ep1, "10.99.0.2/32", ""))
	h.ok("NetworkDriver.Join", joinBody(net1, ep1))
	h.docker.mu.Lock()
	h.docker.delay = 0
	h.docker.endpoints[ep1] = "c0ffee"
	h.docker.containers["c0ffee"] = &dockerapi.Container{ID: "c0ffee", Name: "app1", Labels: map[string]string{}}
	h.docker.mu.Unlock()
	h.d.Wait() // the first driver's lookup also finishes now
	h.agent.labels = nil
	h.d.cfg.State.Update(func(s *stateData) error { s.Endpoints[ep1].ContainerID = ""; return nil })

	h.start()
	h.d.Resume()
	h.d.Wait()
	if len(h.agent.labels) != 1 || h.agent.labels[0].Name != "app1" {
		t.Errorf("labels after resume: %+v", h.agent.labels)
	}
}

// TestSweepAddresses: after a restart, the agent's Docker addresses that
// the state file does not know (a RequestAddress cut short between the
// agent's allocation and the state write) are freed; known ones, and
// other owners' allocations, stay. On a first start (no state file)
// nothing is freed.
func TestSweepAddresses(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if released, err := h.d.SweepAddresses(ctx); err != nil || len(released) != 0 {
		t.Fatalf("sweep on a first start: %v %v, want nothing", released, err)
	}
	h.ok("IpamDriver.RequestAddress", `{"PoolID":"nori:10.99.0.0/24"}`) // 10.99.0.2, in the state file
	orphan := api.Attachment{ContainerID: "nori-docker-ipam-orphan", IfName: "eth0"}
	for _, r := range []api.IPAMRequest{
		{Attachment: orphan, Network: "nori:10.99.0.0/24", Owner: ipamOwner}, // 10.99.0.3, not in it
		{Attachment: api.Attachment{ContainerID: "cni-container", IfName: "eth0"}, Network: "nori", Owner: "cni"},
	} {
		if _, err := h.agent.IPAMAllocate(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}
	h.start()
	released, err := h.d.SweepAddresses(ctx)
	if err != nil || len(released) != 1 || released[0] != orphan {
		t.Fatalf("sweep after a restart released %v, %v; want only %v", released, err, orphan)
	}
	for _, ip := range []string{"10.99.0.2", "10.99.0.4"} {
		if _, ok := h.agent.allocs[ip]; !ok {
			t.Errorf("%s freed by the sweep, want it kept (%v)", ip, h.agent.allocs)
		}
	}
	if _, ok := h.agent.allocs["10.99.0.3"]; ok {
		t.Errorf("the orphan 10.99.0.3 survived the sweep")
	}
	h.agent.setUnreachable(true)
	if _, err := h.d.SweepAddresses(ctx); err == nil {
		t.Error("sweep with the agent away: no error")
	}
}
