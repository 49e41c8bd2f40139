// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/nori-net/nori/agent/api"
)

func testEndpoint() *api.EndpointResult {
	return &api.EndpointResult{
		ID:        7,
		Host:      api.Interface{Name: "lxc1a2b3c", MAC: "02:00:00:00:00:01", MTU: 1450},
		Container: api.Interface{Name: "eth0", MAC: "02:00:00:00:00:02", MTU: 1450, Sandbox: "/run/netns/c1"},
		IPs:       []api.IPConfig{{Address: "10.0.1.7/32"}},
		Routes:    []api.Route{{Dst: "0.0.0.0/0", GW: "10.0.1.1", MTU: 1450}},
		Gateway:   "10.0.1.1",
	}
}

// wireResult is the result as a runtime decodes it, version-neutral.
type wireResult struct {
	CNIVersion string `json:"cniVersion"`
	Interfaces []struct {
		Name    string `json:"name"`
		Mac     string `json:"mac"`
		Mtu     *int   `json:"mtu"`
		Sandbox string `json:"sandbox"`
	} `json:"interfaces"`
	IPs []struct {
		Version   string `json:"version"`
		Interface *int   `json:"interface"`
		Address   string `json:"address"`
		Gateway   string `json:"gateway"`
	} `json:"ips"`
	Routes []struct {
		Dst string `json:"dst"`
		GW  string `json:"gw"`
		MTU *int   `json:"mtu"`
	} `json:"routes"`
	DNS struct {
		Nameservers []string `json:"nameservers"`
	} `json:"dns"`
}

func TestBuildResultPerVersion(t *testing.T) {
	tests := []struct {
		version     string
		wantIPVer   string // 0.3.x and 0.4.0 carry ips[].version
		wantMTU     bool   // interface and route mtu exist from 1.1.0
		wantVersion string
	}{
		{"0.3.1", "4", false, "0.3.1"},
		{"0.4.0", "4", false, "0.4.0"},
		{"1.0.0", "", false, "1.0.0"},
		{"1.1.0", "", true, "1.1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			res, err := buildResult(testEndpoint(), nil, types.DNS{Nameservers: []string{"10.0.1.1"}}, "eth0", "/run/netns/c1", tt.version)
			if err != nil {
				t.Fatalf("buildResult: %v", err)
			}
			var buf bytes.Buffer
			if err := res.PrintTo(&buf); err != nil {
				t.Fatalf("print: %v", err)
			}
			var w wireResult
			if err := json.Unmarshal(buf.Bytes(), &w); err != nil {
				t.Fatalf("decode %s: %v", buf.Bytes(), err)
			}
			if w.CNIVersion != tt.wantVersion {
				t.Errorf("cniVersion = %q, want %q", w.CNIVersion, tt.wantVersion)
			}
			if len(w.Interfaces) != 2 {
				t.Fatalf("interfaces = %+v, want host and container", w.Interfaces)
			}
			host, ctr := w.Interfaces[0], w.Interfaces[1]
			if host.Name != "lxc1a2b3c" || host.Sandbox != "" || host.Mac == "" {
				t.Errorf("host interface = %+v", host)
			}
			if ctr.Name != "eth0" || ctr.Sandbox != "/run/netns/c1" || ctr.Mac != "02:00:00:00:00:02" {
				t.Errorf("container interface = %+v", ctr)
			}
			if (ctr.Mtu != nil) != tt.wantMTU || (host.Mtu != nil) != tt.wantMTU {
				t.Errorf("interface mtu present = %v/%v, want %v", host.Mtu != nil, ctr.Mtu != nil, tt.wantMTU)
			}
			if len(w.IPs) != 1 {
				t.Fatalf("ips = %+v", w.IPs)
			}
			ip := w.IPs[0]
			if ip.Interface == nil || *ip.Interface != 1 || ip.Address != "10.0.1.7/32" || ip.Gateway != "10.0.1.1" || ip.Version != tt.wantIPVer {
				t.Errorf("ip = %+v (interface %v)", ip, ip.Interface)
			}
			if len(w.Routes) != 1 || w.Routes[0].Dst != "0.0.0.0/0" || w.Routes[0].GW != "10.0.1.1" || (w.Routes[0].MTU != nil) != tt.wantMTU {
				t.Errorf("routes = %+v", w.Routes)
			}
			if len(w.DNS.Nameservers) != 1 {
				t.Errorf("dns = %+v", w.DNS)
			}
		})
	}
}

func TestBuildResultEdges(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(*api.EndpointResult)
		wantErr    bool
		wantRoutes int
		wantIfName string
	}{
		{"default route from gateway", func(ep *api.EndpointResult) { ep.Routes = nil }, false, 1, "eth0"},
		{"no gateway, no route", func(ep *api.EndpointResult) { ep.Routes, ep.Gateway = nil, "" }, false, 0, "eth0"},
		{"container name from CNI_IFNAME", func(ep *api.EndpointResult) { ep.Container.Name = "" }, false, 1, "eth0"},
		{"no address", func(ep *api.EndpointResult) { ep.IPs = nil }, true, 0, ""},
		{"bad address", func(ep *api.EndpointResult) { ep.IPs[0].Address = "10.0.1.7" }, true, 0, ""},
		{"bad gateway", func(ep *api.EndpointResult) { ep.Gateway = "x" }, true, 0, ""},
		{"bad route", func(ep *api.EndpointResult) { ep.Routes[0].Dst = "default" }, true, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := testEndpoint()
			tt.edit(ep)
			r, err := buildResult(ep, nil, types.DNS{}, "eth0", "/run/netns/c1", "1.0.0")
			if tt.wantErr {
				if err == nil {
					t.Fatal("buildResult accepted a broken agent answer")
				}
				return
			}
			if err != nil {
				t.Fatalf("buildResult: %v", err)
			}
			var buf bytes.Buffer
			_ = r.PrintTo(&buf)
			var w wireResult
			if err := json.Unmarshal(buf.Bytes(), &w); err != nil {
				t.Fatal(err)
			}
			if len(w.Routes) != tt.wantRoutes || w.Interfaces[1].Name != tt.wantIfName {
				t.Errorf("result = %s", buf.Bytes())
			}
		})
	}
}
