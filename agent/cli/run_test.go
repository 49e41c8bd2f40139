// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nori-net/nori/agent/api"
)

// fakeAgent serves canned answers on a unix socket, the way nori-agent
// does, so the commands are tested end to end apart from the agent.
func fakeAgent(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "nori.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	reply := func(v any) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { json.NewEncoder(w).Encode(v) }
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+api.PathStatus, reply(testStatus()))
	mux.Handle("GET "+api.PathEndpoints, reply(testEndpoints()))
	mux.Handle("GET "+api.PathEndpoints+"/517", reply(testEndpoints()[1]))
	mux.Handle("GET "+api.PathEndpoints+"/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(api.Error{Code: api.CodeNotFound, Message: "endpoint " + r.PathValue("id") + " not found"})
	}))
	mux.Handle("GET "+api.PathIdentities, reply([]api.Identity{{ID: 1, Labels: []string{"reserved:host"}}}))
	mux.Handle("GET "+api.PathNodes, reply([]api.Node{{Name: "host1", IPv4: "172.30.0.1", IPv4CIDR: "10.0.1.0/24"}}))
	mux.Handle("GET "+api.PathBPFIPCache, reply(testIPCache()))
	mux.Handle("GET "+api.PathBPFTunnel, reply(testTunnels()))
	mux.Handle("POST "+api.PathNodeDelete, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.NodeDeleteRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name != "host2" {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(api.Error{Code: api.CodeNotFound, Message: "node " + req.Name + " not found"})
			return
		}
		w.Write([]byte("{}"))
	}))
	mux.Handle("GET "+api.PathVersion, reply(api.Version{Version: "v9.9.9", GoVersion: "go1.26.8"}))
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestCommands(t *testing.T) {
	sock := fakeAgent(t)
	missing := filepath.Join(t.TempDir(), "absent.sock")
	tests := []struct {
		name       string
		args       []string
		env        string // $NORI_SOCKET
		wantCode   int
		wantOut    []string // substrings of stdout
		wantErrSub string   // substring of the single stderr line
	}{
		{"status", []string{"--socket", sock, "status"}, "", 0, []string{"IPAM:                    IPv4: 3/254 allocated from 10.0.1.0/24"}, ""},
		{"status json", []string{"--socket", sock, "status", "-o", "json"}, "", 0, []string{`"nodeName": "host1"`}, ""},
		{"socket from env", []string{"status"}, sock, 0, []string{"Tunnel:                  vxlan"}, ""},
		{"flag beats env", []string{"--socket", sock, "status"}, missing, 0, []string{"KVStore:"}, ""},
		{"endpoint list", []string{"--socket", sock, "endpoint", "list"}, "", 0, []string{"container:tier=front", "waiting-for-identity"}, ""},
		{"endpoint list json", []string{"-o", "json", "--socket", sock, "endpoint", "list"}, "", 0, []string{`"id": 2921`}, ""},
		{"endpoint get", []string{"--socket", sock, "endpoint", "get", "517"}, "", 0, []string{"Name:                 web1"}, ""},
		{"endpoint get missing", []string{"--socket", sock, "endpoint", "get", "9"}, "", 1, nil, "Error: get endpoint 9: endpoint 9 not found"},
		{"endpoint get bad id", []string{"--socket", sock, "endpoint", "get", "70000"}, "", 1, nil, `parse endpoint ID "70000"`},
		{"identity list", []string{"--socket", sock, "identity", "list"}, "", 0, []string{"1    reserved:host"}, ""},
		{"node list", []string{"--socket", sock, "node", "list"}, "", 0, []string{"host1   172.30.0.1"}, ""},
		{"node delete", []string{"--socket", sock, "node", "delete", "host2"}, "", 0, []string{"Deleted node host2"}, ""},
		{"node delete missing", []string{"--socket", sock, "node", "delete", "host9"}, "", 1, nil, "Error: delete node host9: node host9 not found"},
		{"node delete no name", []string{"--socket", sock, "node", "delete"}, "", 1, nil, "accepts 1 arg(s), received 0"},
		{"bpf ipcache list", []string{"--socket", sock, "bpf", "ipcache", "list"}, "", 0, []string{"10.0.2.9/32         identity=48213 tunnelendpoint=172.30.0.2 flags=remote"}, ""},
		{"bpf ipcache list json", []string{"--socket", sock, "bpf", "ipcache", "list", "-o", "json"}, "", 0, []string{`"tunnelEndpoint": "172.30.0.2"`}, ""},
		{"bpf tunnel list", []string{"--socket", sock, "bpf", "tunnel", "list"}, "", 0, []string{"10.0.3.0/24   172.30.0.3"}, ""},
		{"bpf tunnel list json", []string{"--socket", sock, "-o", "json", "bpf", "tunnel", "list"}, "", 0, []string{`"prefix": "10.0.2.0/24"`}, ""},
		{"version", []string{"--socket", sock, "version"}, "", 0, []string{"Daemon: v9.9.9 go1.26.8"}, ""},
		{"version json", []string{"--socket", sock, "version", "-o", "json"}, "", 0, []string{`"daemon": {`, `"version": "v9.9.9"`}, ""},
		{"version agent down", []string{"--socket", missing, "version"}, "", 0, []string{"Client: ", "Daemon: unreachable"}, ""},
		{"agent down", []string{"--socket", missing, "status"}, "", 1, nil, "nori-agent unreachable at " + missing},
		{"agent down endpoint list", []string{"--socket", missing, "endpoint", "list"}, "", 1, nil, "is nori-agent running?"},
		{"bad output format", []string{"--socket", sock, "-o", "yaml", "status"}, "", 1, nil, `unknown output format "yaml"`},
		{"unknown command", []string{"frobnicate"}, "", 1, nil, `unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(api.SocketEnv, tt.env)
			if tt.env == "" {
				os.Unsetenv(api.SocketEnv)
			}
			code, out, errOut := run(tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if tt.wantErrSub != "" {
				if !strings.Contains(errOut, tt.wantErrSub) {
					t.Errorf("stderr lacks %q: %q", tt.wantErrSub, errOut)
				}
				if n := strings.Count(errOut, "\n"); n != 1 {
					t.Errorf("stderr has %d lines, want one: %q", n, errOut)
				}
			} else if tt.wantCode == 0 && errOut != "" {
				t.Errorf("unexpected stderr: %q", errOut)
			}
		})
	}
}

// TestJSONRoundTrip checks that -o json prints the agent's data unchanged.
func TestJSONRoundTrip(t *testing.T) {
	sock := fakeAgent(t)
	code, out, _ := run("--socket", sock, "-o", "json", "endpoint", "list")
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	var eps []api.Endpoint
	if err := json.Unmarshal([]byte(out), &eps); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if len(eps) != 3 || eps[0].ID != 2921 || eps[1].Labels[0] != "container:tier=front" {
		t.Fatalf("endpoints changed on the way: %+v", eps)
	}
}
