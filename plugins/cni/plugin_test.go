// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/internal/cnierr"
	"github.com/nori-net/nori/plugins/internal/fakeagent"
	"github.com/nori-net/nori/plugins/internal/plugintest"
)

// These tests run the built binaries as a runtime would, against a fake
// agent (logic only) or against a socket nobody listens on.

// binDir holds nori-cni and nori-ipam, built once by TestMain.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(plugintest.Main(m, &binDir))
}

func bins(t *testing.T) (dir, cniPath string) {
	t.Helper()
	return binDir, binDir + ":" + plugintest.RefPluginDir
}

func noriIPAM() string { return `{"type":"nori-ipam"}` }

func hostLocal(t *testing.T) string {
	return fmt.Sprintf(`{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.98.0.0/24","gateway":"10.98.0.1"}]]}`, t.TempDir())
}

func conf(version, socket, ipam, extra string) []byte {
	s := fmt.Sprintf(`{"cniVersion":%q,"name":"nori","type":"nori-cni","agentSocket":%q,"ipam":%s%s}`, version, socket, ipam, extra)
	return []byte(s)
}

// withPrev adds prevResult the way libcni does for CHECK and DEL.
func withPrev(t *testing.T, c, prev []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(c, &m); err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(prev, &p); err != nil {
		t.Fatal(err)
	}
	m["prevResult"] = p
	out, _ := json.Marshal(m)
	return out
}

func run(t *testing.T, plugin, cmd, id, netns, args string, stdin []byte) plugintest.Out {
	t.Helper()
	dir, path := bins(t)
	return plugintest.Run(t, filepath.Join(dir, plugin), plugintest.Env{
		Command: cmd, ContainerID: id, Netns: netns, IfName: "eth0", Args: args, Path: path,
	}, stdin)
}

func mustOK(t *testing.T, out plugintest.Out, what string) {
	t.Helper()
	if out.ExitCode != 0 {
		t.Fatalf("%s failed: %d %+v\nstderr: %s", what, out.ExitCode, out.Err, out.Stderr)
	}
}

func mustCode(t *testing.T, out plugintest.Out, code uint, msgPart string) {
	t.Helper()
	if out.ExitCode == 0 {
		t.Fatalf("succeeded, want code %d; stdout %s", code, out.Stdout)
	}
	if out.Err.Code != code || !strings.Contains(out.Err.Msg, msgPart) {
		t.Fatalf("got code %d %q, want %d containing %q", out.Err.Code, out.Err.Msg, code, msgPart)
	}
}

// deadSockets are agent sockets nobody answers on: a missing file and a
// stale socket file left by a dead agent (connection refused).
func deadSockets(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	return map[string]string{"missing": filepath.Join(dir, "missing.sock"), "stale": stale}
}

func TestUnreachableAgent(t *testing.T) {
	for kind, sock := range deadSockets(t) {
		hint := "nori-agent is not reachable at " + sock + ": is it running? (systemctl status nori-agent / make run)"
		prev := []byte(`{"cniVersion":"1.0.0","interfaces":[{"name":"lxc1"},{"name":"eth0","sandbox":"/run/netns/x"}],"ips":[{"interface":1,"address":"10.99.0.2/32"}]}`)
		tests := []struct {
			name   string
			plugin string
			cmd    string
			stdin  []byte
			code   uint
		}{
			{"ADD nori-ipam", "nori-cni", "ADD", conf("1.0.0", sock, noriIPAM(), ""), types.ErrTryAgainLater},
			{"ADD host-local", "nori-cni", "ADD", conf("1.0.0", sock, hostLocal(t), ""), types.ErrTryAgainLater},
			{"CHECK", "nori-cni", "CHECK", withPrev(t, conf("1.0.0", sock, hostLocal(t), ""), prev), types.ErrTryAgainLater},
			{"GC", "nori-cni", "GC", conf("1.1.0", sock, noriIPAM(), `,"cni.dev/valid-attachments":[]`), types.ErrTryAgainLater},
			{"STATUS", "nori-cni", "STATUS", conf("1.1.0", sock, noriIPAM(), ""), types.ErrPluginNotAvailable},
			{"ipam ADD", "nori-ipam", "ADD", conf("0.4.0", sock, noriIPAM(), ""), types.ErrTryAgainLater},
			{"ipam DEL", "nori-ipam", "DEL", conf("0.4.0", sock, noriIPAM(), ""), types.ErrTryAgainLater},
			{"ipam STATUS", "nori-ipam", "STATUS", conf("1.1.0", sock, noriIPAM(), ""), types.ErrPluginNotAvailable},
		}
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				out := run(t, tt.plugin, tt.cmd, "c-unreach", "/run/netns/nori-test-absent", "", tt.stdin)
				mustCode(t, out, tt.code, hint)
			})
		}
	}
}

// ipFiles lists host-local's allocation files (named by address).
func ipFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	var out []string
	re := regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)
	_ = filepath.Walk(dataDir, func(p string, info os.FileInfo, err error) error {
		if err == nil && re.MatchString(info.Name()) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestAddRollsBackIPAM(t *testing.T) {
	t.Run("host-local, agent down", func(t *testing.T) {
		data := t.TempDir()
		ipam := fmt.Sprintf(`{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.98.0.0/24"}]]}`, data)
		out := run(t, "nori-cni", "ADD", "c-rb", "/run/netns/nori-test-absent", "", conf("1.0.0", deadSockets(t)["missing"], ipam, ""))
		mustCode(t, out, types.ErrTryAgainLater, "not reachable")
		if f := ipFiles(t, data); len(f) != 0 {
			t.Errorf("host-local still holds %v after the failed ADD", f)
		}
	})
	t.Run("nori-ipam, endpoint fails", func(t *testing.T) {
		agent := fakeagent.Start(t)
		agent.Fail(api.PathEndpointCreate, &api.Error{Code: api.CodeInternal, Message: "create veth: boom"})
		out := run(t, "nori-cni", "ADD", "c-rb2", "/run/netns/nori-test-absent", "", conf("1.0.0", agent.Socket, noriIPAM(), ""))
		mustCode(t, out, types.ErrInternal, "create endpoint: create veth: boom")
		if ip, ok := agent.Allocated(api.Attachment{ContainerID: "c-rb2", IfName: "eth0"}); ok {
			t.Errorf("address %s still allocated after the failed ADD", ip)
		}
	})
}

func TestAgentErrorsMapped(t *testing.T) {
	tests := []struct {
		name string
		path string
		err  *api.Error
		code uint
		msg  string
	}{
		{"pool exhausted", api.PathIPAMAllocate, &api.Error{Code: api.CodePoolExhausted, Message: "no free address in node CIDR 10.99.0.0/24"}, cnierr.ErrPoolExhausted, "no free address in node CIDR 10.99.0.0/24"},
		{"not ready", api.PathEndpointCreate, &api.Error{Code: api.CodeNotReady, Message: "restoring endpoints"}, types.ErrTryAgainLater, "not ready yet: restoring endpoints"},
		{"invalid", api.PathEndpointCreate, &api.Error{Code: api.CodeInvalid, Message: `invalid "netns": not a network namespace`}, types.ErrInvalidNetworkConfig, `invalid "netns"`},
		{"conflict", api.PathIPAMAllocate, &api.Error{Code: api.CodeConflict, Message: "10.99.0.9 is in use"}, types.ErrInternal, "10.99.0.9 is in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agent := fakeagent.Start(t)
			agent.Fail(tt.path, tt.err)
			out := run(t, "nori-cni", "ADD", "c-map", "/run/netns/nori-test-absent", "", conf("1.0.0", agent.Socket, noriIPAM(), ""))
			mustCode(t, out, tt.code, tt.msg)
		})
	}
}

func TestMalformedConfViaBinary(t *testing.T) {
	sock := deadSockets(t)["missing"]
	tests := []struct {
		name  string
		stdin string
		code  uint
		msg   string
	}{
		{"no ipam", `{"cniVersion":"1.0.0","name":"nori","type":"nori-cni"}`, types.ErrInvalidNetworkConfig, `missing "ipam"`},
		{"bad mtu", string(conf("1.0.0", sock, noriIPAM(), `,"mtu":10`)), types.ErrInvalidNetworkConfig, `invalid "mtu": must be between 576 and 65535`},
		{"bad socket", string(conf("1.0.0", "rel.sock", noriIPAM(), "")), types.ErrInvalidNetworkConfig, `invalid "agentSocket"`},
		{"no name", `{"cniVersion":"1.0.0","type":"nori-cni","ipam":{"type":"nori-ipam"}}`, types.ErrInvalidNetworkConfig, "missing network name"},
		{"not json", `{"cniVersion":`, types.ErrDecodingFailure, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := run(t, "nori-cni", "ADD", "c-bad", "/run/netns/nori-test-absent", "", []byte(tt.stdin))
			mustCode(t, out, tt.code, tt.msg)
		})
	}
	t.Run("bad CNI_ARGS", func(t *testing.T) {
		out := run(t, "nori-cni", "ADD", "c-bad", "/run/netns/nori-test-absent", "FOO=1", conf("1.0.0", sock, noriIPAM(), ""))
		mustCode(t, out, types.ErrInvalidEnvironmentVariables, `invalid CNI_ARGS "FOO"`)
	})
}

func TestVersion(t *testing.T) {
	out := run(t, "nori-cni", "VERSION", "", "", "", []byte(`{"cniVersion":"1.1.0"}`))
	mustOK(t, out, "VERSION")
	var v struct {
		Supported []string `json:"supportedVersions"`
	}
	if err := json.Unmarshal(out.Stdout, &v); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		if !strings.Contains(strings.Join(v.Supported, " "), want) {
			t.Errorf("VERSION lacks %s: %v", want, v.Supported)
		}
	}
}
