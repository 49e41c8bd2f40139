// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/internal/cnierr"
	"github.com/nori-net/nori/plugins/internal/fakeagent"
	"github.com/nori-net/nori/plugins/internal/plugintest"
)

// binDir holds nori-cni and nori-ipam, built once by TestMain.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(plugintest.Main(m, &binDir))
}

// bridgeConf is nori-ipam under another plugin, as a user would write it.
func bridgeConf(version, socket, extra string) []byte {
	return []byte(fmt.Sprintf(`{"cniVersion":%q,"name":"br","type":"bridge","ipam":{"type":"nori-ipam","agentSocket":%q}%s}`, version, socket, extra))
}

func run(t *testing.T, cmd, id, args string, stdin []byte) plugintest.Out {
	t.Helper()
	return plugintest.Run(t, filepath.Join(binDir, "nori-ipam"), plugintest.Env{
		Command: cmd, ContainerID: id, Netns: "/run/netns/nori-test-absent", IfName: "eth0", Args: args,
		Path: binDir + ":" + plugintest.RefPluginDir,
	}, stdin)
}

func ok(t *testing.T, out plugintest.Out, what string) {
	t.Helper()
	if out.ExitCode != 0 {
		t.Fatalf("%s: %d %+v\nstderr %s", what, out.ExitCode, out.Err, out.Stderr)
	}
}

func withPrev(t *testing.T, c, prev []byte) []byte {
	t.Helper()
	var m, p map[string]any
	if err := json.Unmarshal(c, &m); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(prev, &p); err != nil {
		t.Fatal(err)
	}
	m["prevResult"] = p
	b, _ := json.Marshal(m)
	return b
}

func TestLifecycle(t *testing.T) {
	for _, v := range []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		t.Run(v, func(t *testing.T) {
			agent := fakeagent.Start(t)
			c := bridgeConf(v, agent.Socket, "")
			at := api.Attachment{ContainerID: "c1", IfName: "eth0"}

			first := run(t, "ADD", "c1", "", c)
			ok(t, first, "ADD")
			if !strings.Contains(string(first.Stdout), `"cniVersion": "`+v+`"`) || !strings.Contains(string(first.Stdout), "/24") {
				t.Errorf("ADD result:\n%s", first.Stdout)
			}
			again := run(t, "ADD", "c1", "", c)
			ok(t, again, "second ADD")
			if string(again.Stdout) != string(first.Stdout) {
				t.Errorf("ADD is not idempotent:\n%s\n%s", first.Stdout, again.Stdout)
			}
			if v != "0.3.1" {
				ok(t, run(t, "CHECK", "c1", "", withPrev(t, c, first.Stdout)), "CHECK")
			}
			if v == "1.1.0" {
				ok(t, run(t, "STATUS", "", "", c), "STATUS")
				ok(t, run(t, "ADD", "c-stale", "", c), "ADD stale")
				gc := bridgeConf(v, agent.Socket, `,"cni.dev/attachments":[{"containerID":"c1","ifname":"eth0"}]`)
				ok(t, run(t, "GC", "", "", gc), "GC")
				if _, held := agent.Allocated(api.Attachment{ContainerID: "c-stale", IfName: "eth0"}); held {
					t.Error("GC kept an unlisted allocation")
				}
				if _, held := agent.Allocated(at); !held {
					t.Error("GC freed a listed allocation")
				}
			}
			ok(t, run(t, "DEL", "c1", "", c), "DEL")
			ok(t, run(t, "DEL", "c1", "", c), "second DEL")
			if _, held := agent.Allocated(at); held {
				t.Error("DEL left the allocation")
			}
			if v != "0.3.1" {
				out := run(t, "CHECK", "c1", "", withPrev(t, c, first.Stdout))
				if out.ExitCode == 0 || !strings.Contains(out.Err.Msg, "no address allocated") {
					t.Errorf("CHECK after DEL = %d %+v", out.ExitCode, out.Err)
				}
			}
		})
	}
}

func TestStaticAddresses(t *testing.T) {
	tests := []struct {
		name  string
		args  string
		extra string
		want  string
	}{
		{"CNI_ARGS IP=", "IgnoreUnknown=1;IP=10.99.0.77", "", "10.99.0.77/24"},
		{"ips capability", "", `,"runtimeConfig":{"ips":["10.99.0.78/24"]}`, "10.99.0.78/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agent := fakeagent.Start(t)
			out := run(t, "ADD", "c-static", tt.args, bridgeConf("1.0.0", agent.Socket, tt.extra))
			ok(t, out, "ADD")
			if !strings.Contains(string(out.Stdout), tt.want) {
				t.Errorf("result lacks %s:\n%s", tt.want, out.Stdout)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	agent := fakeagent.Start(t)
	agent.Fail(api.PathIPAMAllocate, &api.Error{Code: api.CodePoolExhausted, Message: "no free address in node CIDR " + fakeagent.Prefix})
	out := run(t, "ADD", "c-full", "", bridgeConf("1.0.0", agent.Socket, ""))
	if out.Err == nil || out.Err.Code != cnierr.ErrPoolExhausted || !strings.HasPrefix(out.Err.Msg, "no free address in node CIDR") {
		t.Errorf("full pool: %+v", out.Err)
	}
	out = run(t, "ADD", "c-bad", "", []byte(`{"cniVersion":"1.0.0","name":"br","ipam":{"type":"nori-ipam","agentSocket":"x.sock"}}`))
	if out.Err == nil || out.Err.Code != types.ErrInvalidNetworkConfig || !strings.Contains(out.Err.Msg, `"ipam.agentSocket"`) {
		t.Errorf("bad conf: %+v", out.Err)
	}
}
