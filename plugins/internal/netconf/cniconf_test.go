// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package netconf

import (
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/nori-net/nori/agent/api"
)

func TestLoadRejectsNamingTheField(t *testing.T) {
	const head = `"cniVersion":"1.0.0","name":"nori","type":"nori-cni"`
	tests := []struct {
		name string
		conf string
		want string // the message must start with this
	}{
		{"no ipam", `{` + head + `}`, `missing "ipam":`},
		{"ipam without type", `{` + head + `,"ipam":{}}`, `missing "ipam.type":`},
		{"ipam wrong type", `{` + head + `,"ipam":"nori-ipam"}`, `invalid "ipam": must be a JSON object`},
		{"mtu too small", `{` + head + `,"ipam":{"type":"nori-ipam"},"mtu":100}`, `invalid "mtu": must be between 576 and 65535`},
		{"mtu too big", `{` + head + `,"ipam":{"type":"nori-ipam"},"mtu":70000}`, `invalid "mtu": must be between 576 and 65535`},
		{"mtu negative", `{` + head + `,"ipam":{"type":"nori-ipam"},"mtu":-1}`, `invalid "mtu": must be between 576 and 65535`},
		{"mtu a string", `{` + head + `,"ipam":{"type":"nori-ipam"},"mtu":"1500"}`, `invalid "mtu": must be a JSON number`},
		{"relative socket", `{` + head + `,"ipam":{"type":"nori-ipam"},"agentSocket":"nori.sock"}`, `invalid "agentSocket": must be an absolute path`},
		{"socket a number", `{` + head + `,"ipam":{"type":"nori-ipam"},"agentSocket":1}`, `invalid "agentSocket": must be a JSON string`},
		{"bad log level", `{` + head + `,"ipam":{"type":"nori-ipam"},"logLevel":"loud"}`, `invalid "logLevel": must be debug, info, warn or error`},
		{"bad static ip", `{` + head + `,"ipam":{"type":"nori-ipam"},"runtimeConfig":{"ips":["10.0.0.300"]}}`, `invalid "runtimeConfig.ips[0]":`},
		{"port out of range", `{` + head + `,"ipam":{"type":"nori-ipam"},"runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":0,"protocol":"tcp"}]}}`, `invalid "runtimeConfig.portMappings[0].containerPort":`},
		{"bad protocol", `{` + head + `,"ipam":{"type":"nori-ipam"},"runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":80,"protocol":"icmp"}]}}`, `invalid "runtimeConfig.portMappings[0].protocol":`},
		{"bad host ip", `{` + head + `,"ipam":{"type":"nori-ipam"},"runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":80,"hostIP":"x"}]}}`, `invalid "runtimeConfig.portMappings[0].hostIP":`},
		{"port a string", `{` + head + `,"ipam":{"type":"nori-ipam"},"runtimeConfig":{"portMappings":[{"hostPort":"80"}]}}`, `invalid "runtimeConfig.portMappings.hostPort": must be a JSON number`},
		{"attachments not a list", `{` + head + `,"ipam":{"type":"nori-ipam"},"cni.dev/valid-attachments":{}}`, `invalid "cni.dev/valid-attachments": must be a JSON array`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load([]byte(tt.conf))
			if err == nil {
				t.Fatalf("Load accepted %s: %+v", tt.conf, c)
			}
			if err.Code != types.ErrInvalidNetworkConfig {
				t.Errorf("code = %d, want %d", err.Code, types.ErrInvalidNetworkConfig)
			}
			if !strings.HasPrefix(err.Msg, tt.want) {
				t.Errorf("msg = %q, want prefix %q", err.Msg, tt.want)
			}
		})
	}
}

func TestLoadAccepts(t *testing.T) {
	tests := []struct {
		name       string
		conf       string
		wantSocket string
		wantMTU    int
		wantPorts  int
		wantIPs    int
	}{
		{"defaults", `{"cniVersion":"1.0.0","name":"nori","type":"nori-cni","ipam":{"type":"nori-ipam"}}`, api.DefaultSocket, 0, 0, 0},
		{"host-local", `{"cniVersion":"0.4.0","name":"n","type":"nori-cni","ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.0.0/24"}]]}}`, api.DefaultSocket, 0, 0, 0},
		{"all keys", `{"cniVersion":"1.1.0","name":"nori","type":"nori-cni","ipam":{"type":"nori-ipam"},
			"agentSocket":"/tmp/x.sock","mtu":1400,"logLevel":"debug",
			"runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}],"ips":["10.0.0.5","10.0.0.6/24"]}}`,
			"/tmp/x.sock", 1400, 1, 2},
		{"mtu bounds", `{"cniVersion":"1.0.0","name":"nori","type":"nori-cni","ipam":{"type":"nori-ipam"},"mtu":576}`, api.DefaultSocket, 576, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load([]byte(tt.conf))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Socket() != tt.wantSocket || c.MTU != tt.wantMTU ||
				len(c.RuntimeConfig.PortMappings) != tt.wantPorts || len(c.RuntimeConfig.IPs) != tt.wantIPs {
				t.Errorf("got socket %q mtu %d ports %d ips %d", c.Socket(), c.MTU, len(c.RuntimeConfig.PortMappings), len(c.RuntimeConfig.IPs))
			}
		})
	}
}

func TestLoadIPAM(t *testing.T) {
	tests := []struct {
		name       string
		conf       string
		wantSocket string
		wantErr    string
	}{
		{"under nori-cni", `{"cniVersion":"1.0.0","name":"nori","agentSocket":"/run/a.sock","ipam":{"type":"nori-ipam"}}`, "/run/a.sock", ""},
		{"own socket wins", `{"cniVersion":"1.0.0","name":"nori","agentSocket":"/run/a.sock","ipam":{"type":"nori-ipam","agentSocket":"/run/b.sock"}}`, "/run/b.sock", ""},
		{"default", `{"cniVersion":"1.0.0","name":"br","type":"bridge","ipam":{"type":"nori-ipam"}}`, api.DefaultSocket, ""},
		{"relative", `{"cniVersion":"1.0.0","name":"br","ipam":{"type":"nori-ipam","agentSocket":"x"}}`, "", `invalid "ipam.agentSocket"`},
		{"bad level", `{"cniVersion":"1.0.0","name":"br","ipam":{"type":"nori-ipam","logLevel":"x"}}`, "", `invalid "ipam.logLevel"`},
		{"bad ip", `{"cniVersion":"1.0.0","name":"br","ipam":{"type":"nori-ipam"},"runtimeConfig":{"ips":["nope"]}}`, "", `invalid "runtimeConfig.ips[0]"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadIPAM([]byte(tt.conf))
			if tt.wantErr != "" {
				if err == nil || err.Code != types.ErrInvalidNetworkConfig || !strings.HasPrefix(err.Msg, tt.wantErr) {
					t.Fatalf("err = %v, want code 7 %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadIPAM: %v", err)
			}
			if c.Socket() != tt.wantSocket {
				t.Errorf("socket = %q, want %q", c.Socket(), tt.wantSocket)
			}
		})
	}
}

func TestGCAttachments(t *testing.T) {
	tests := []struct {
		name        string
		conf        string
		wantPresent bool
		want        int
	}{
		{"absent", `{}`, false, 0},
		{"empty", `{"cni.dev/valid-attachments":[]}`, true, 0},
		{"spec key", `{"cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]}`, true, 1},
		{"misspelled key only", `{"cni.dev/attachments":[{"containerID":"a","ifname":"eth0"}]}`, true, 1},
		{"both, deduplicated", `{"cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}],
			"cni.dev/attachments":[{"containerID":"a","ifname":"eth0"},{"containerID":"b","ifname":"eth0"}]}`, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := `{"cniVersion":"1.1.0","name":"nori","ipam":{"type":"nori-ipam"},` + tt.conf[1:]
			if tt.conf == `{}` {
				conf = `{"cniVersion":"1.1.0","name":"nori","ipam":{"type":"nori-ipam"}}`
			}
			c, err := Load([]byte(conf))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.GC.Present() != tt.wantPresent || len(c.GC.Attachments()) != tt.want {
				t.Errorf("present %v attachments %v", c.GC.Present(), c.GC.Attachments())
			}
		})
	}
}
