// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/containernetworking/cni/pkg/version"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/internal/fakeagent"
)

// TestLifecycle drives ADD, CHECK, DEL (twice, and with an empty netns as
// nerdctl sends it), GC and STATUS through the binaries for every result
// version, with nori-ipam and with host-local, against the fake agent. It
// proves the plugins' logic and wire format; tests/cniconformance proves
// them against the real agent.
func TestLifecycle(t *testing.T) {
	for _, v := range []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		for _, ipamName := range []string{"nori-ipam", "host-local"} {
			if v == "1.1.0" && ipamName == "host-local" {
				// Debian 12's host-local (plugins 1.1.1) stops at 1.0.0;
				// TestHostLocalTooOld covers what nori-cni answers then.
				continue
			}
			t.Run(v+"/"+ipamName, func(t *testing.T) {
				agent := fakeagent.Start(t)
				ipam := noriIPAM()
				if ipamName == "host-local" {
					ipam = hostLocal(t)
				}
				c := conf(v, agent.Socket, ipam, `,"logLevel":"debug","runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}`)
				const netns = "/run/netns/nori-test-absent"
				id := "c-life-" + v
				at := api.Attachment{ContainerID: id, IfName: "eth0"}

				out := run(t, "nori-cni", "ADD", id, netns, "IgnoreUnknown=1;K8S_POD_NAME=web", c)
				mustOK(t, out, "ADD")
				// stdout must be exactly one JSON document: the result.
				dec := json.NewDecoder(bytes.NewReader(out.Stdout))
				var res wireResult
				if err := dec.Decode(&res); err != nil || dec.More() {
					t.Fatalf("stdout is not one result: %v\n%s", err, out.Stdout)
				}
				if len(out.Stderr) == 0 {
					t.Error("logLevel debug logged nothing to stderr")
				}
				checkResultShape(t, res, v, netns)

				ep, ok := agent.Endpoint(at)
				if !ok {
					t.Fatal("agent has no endpoint after ADD")
				}
				if ep.Args["K8S_POD_NAME"] != "web" || len(ep.PortMappings) != 1 || ep.PortMappings[0].HostPort != 8080 || ep.Network != "nori" {
					t.Errorf("endpoint request = %+v", ep)
				}
				if ipamName == "nori-ipam" {
					if _, ok := agent.Allocated(at); !ok {
						t.Error("nori-ipam allocated nothing in the agent")
					}
				}

				withResult := withPrev(t, c, out.Stdout)
				if ok, _ := version.GreaterThanOrEqualTo(v, "0.4.0"); ok {
					mustOK(t, run(t, "nori-cni", "CHECK", id, netns, "", withResult), "CHECK")
				}
				if ok, _ := version.GreaterThanOrEqualTo(v, "1.1.0"); ok {
					mustOK(t, run(t, "nori-cni", "STATUS", "", "", "", c), "STATUS")
					// A second attachment the runtime does not list goes.
					other := api.Attachment{ContainerID: "c-stale", IfName: "eth0"}
					mustOK(t, run(t, "nori-cni", "ADD", other.ContainerID, netns, "", c), "ADD stale")
					gc := conf(v, agent.Socket, ipam, fmt.Sprintf(`,"cni.dev/valid-attachments":[{"containerID":%q,"ifname":"eth0"}]`, id))
					mustOK(t, run(t, "nori-cni", "GC", "", "", "", gc), "GC")
					if _, ok := agent.Endpoint(other); ok {
						t.Error("GC left the unlisted endpoint")
					}
					if _, ok := agent.Allocated(other); ok {
						t.Error("GC left the unlisted allocation")
					}
					if _, ok := agent.Endpoint(at); !ok {
						t.Error("GC removed the listed endpoint")
					}
				}

				mustOK(t, run(t, "nori-cni", "DEL", id, netns, "", withResult), "DEL")
				mustOK(t, run(t, "nori-cni", "DEL", id, netns, "", withResult), "second DEL")
				mustOK(t, run(t, "nori-cni", "DEL", id, "", "", c), "DEL with empty CNI_NETNS")
				if _, ok := agent.Endpoint(at); ok {
					t.Error("endpoint still there after DEL")
				}
				if _, ok := agent.Allocated(at); ok {
					t.Error("address still allocated after DEL")
				}
			})
		}
	}
}

func checkResultShape(t *testing.T, res wireResult, v, netns string) {
	t.Helper()
	if res.CNIVersion != v {
		t.Errorf("cniVersion = %q, want %q", res.CNIVersion, v)
	}
	if len(res.Interfaces) != 2 || res.Interfaces[0].Sandbox != "" || res.Interfaces[1].Sandbox != netns || res.Interfaces[1].Name != "eth0" {
		t.Fatalf("interfaces = %+v", res.Interfaces)
	}
	if len(res.IPs) == 0 || res.IPs[0].Interface == nil || *res.IPs[0].Interface != 1 || res.IPs[0].Gateway != fakeagent.Router {
		t.Fatalf("ips = %+v", res.IPs)
	}
	if len(res.Routes) == 0 || res.Routes[0].Dst != "0.0.0.0/0" {
		t.Errorf("routes = %+v", res.Routes)
	}
}

// TestDelAgentDownNetnsGone: with the container's netns gone (or empty, as
// nerdctl sends it) a dead agent must not fail DEL; host-local still frees
// the address.
func TestDelAgentDownNetnsGone(t *testing.T) {
	data := t.TempDir()
	ipam := fmt.Sprintf(`{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.98.0.0/24"}]]}`, data)

	agent := fakeagent.Start(t)
	c := conf("1.0.0", agent.Socket, ipam, "")
	mustOK(t, run(t, "nori-cni", "ADD", "c-down", "/run/netns/nori-test-absent", "", c), "ADD")
	if len(ipFiles(t, data)) != 1 {
		t.Fatalf("host-local holds %v after ADD", ipFiles(t, data))
	}

	dead := conf("1.0.0", deadSockets(t)["missing"], ipam, "")
	for _, netns := range []string{"", "/run/netns/nori-test-absent"} {
		mustOK(t, run(t, "nori-cni", "DEL", "c-down", netns, "", dead), fmt.Sprintf("DEL netns=%q, agent down", netns))
	}
	if f := ipFiles(t, data); len(f) != 0 {
		t.Errorf("host-local still holds %v", f)
	}
	// nori-ipam answers 11 as well; DEL still succeeds once the netns is gone.
	mustOK(t, run(t, "nori-cni", "DEL", "c-down", "", "", conf("1.0.0", deadSockets(t)["missing"], noriIPAM(), "")), "DEL nori-ipam, agent down")
}

// TestHostLocalTooOld: an IPAM plugin that cannot speak the list's version
// fails ADD with its own code 1, passed through unchanged.
func TestHostLocalTooOld(t *testing.T) {
	agent := fakeagent.Start(t)
	out := run(t, "nori-cni", "ADD", "c-old", "/run/netns/nori-test-absent", "", conf("1.1.0", agent.Socket, hostLocal(t), ""))
	mustCode(t, out, 1, "incompatible CNI versions")
}
