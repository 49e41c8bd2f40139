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

// policyAgent answers the policy, BPF map and monitor calls and records
// the requests it got.
type policyAgent struct {
	sock     string
	imported api.PolicyImportRequest
	deleted  api.PolicyDeleteRequest
	traced   api.PolicyTraceRequest
	query    string
}

func newPolicyAgent(t *testing.T) *policyAgent {
	t.Helper()
	a := &policyAgent{sock: filepath.Join(t.TempDir(), "nori.sock")}
	ln, err := net.Listen("unix", a.sock)
	if err != nil {
		t.Fatal(err)
	}
	// decode replaces what v held: an omitted field must not keep an
	// earlier request's value.
	decode := func(r *http.Request, v any) {
		switch p := v.(type) {
		case *api.PolicyImportRequest:
			*p = api.PolicyImportRequest{}
		case *api.PolicyDeleteRequest:
			*p = api.PolicyDeleteRequest{}
		case *api.PolicyTraceRequest:
			*p = api.PolicyTraceRequest{}
		}
		json.NewDecoder(r.Body).Decode(v)
	}
	reply := func(w http.ResponseWriter, v any) { json.NewEncoder(w).Encode(v) }
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathPolicyImport, func(w http.ResponseWriter, r *http.Request) {
		decode(r, &a.imported)
		reply(w, api.PolicyRevision{Revision: 12, Count: 3, Changed: 1})
	})
	mux.HandleFunc("GET "+api.PathPolicy, func(w http.ResponseWriter, r *http.Request) {
		a.query = r.URL.RawQuery
		reply(w, api.PolicyGet{Revision: 12, Rules: json.RawMessage(testPolicyJSON)})
	})
	mux.HandleFunc("POST "+api.PathPolicyDelete, func(w http.ResponseWriter, r *http.Request) {
		decode(r, &a.deleted)
		reply(w, api.PolicyRevision{Revision: 13, Count: 2, Changed: 1})
	})
	mux.HandleFunc("POST "+api.PathPolicyTrace, func(w http.ResponseWriter, r *http.Request) {
		decode(r, &a.traced)
		reply(w, testTrace())
	})
	mux.HandleFunc("GET "+api.PathBPFPolicy, func(w http.ResponseWriter, r *http.Request) {
		a.query = r.URL.RawQuery
		reply(w, testBPFPolicy())
	})
	mux.HandleFunc("GET "+api.PathBPFCT, func(w http.ResponseWriter, _ *http.Request) { reply(w, testCT()) })
	mux.HandleFunc("GET "+api.PathMonitor, func(w http.ResponseWriter, r *http.Request) {
		a.query = r.URL.RawQuery
		for _, ev := range testMonitorEvents()[:2] {
			reply(w, ev)
			w.(http.Flusher).Flush()
		}
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return a
}

const validPolicy = `[{"labels": ["name=allow-app1"], "endpointSelector": {"matchLabels": {"name": "app2"}},
  "ingress": [{"fromEndpoints": [{"matchLabels": {"name": "app1"}}], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}]},
  {"endpointSelector": {}, "egress": [{}]}]`

const invalidPolicy = `[{"labels": ["name=allow-app1"], "endpointSelector": {},
  "ingress": [{"toPorts": [{"ports": [{"port": "abc"}]}]}]}]`

func TestPolicyCommands(t *testing.T) {
	a := newPolicyAgent(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte(validPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(invalidPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "absent.sock")
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantOut    []string
		wantErrSub string
		check      func(t *testing.T)
	}{
		{"import", []string{"policy", "import", good, "--replace"}, "", 0, []string{"Revision: 12\n"}, "", func(t *testing.T) {
			if !a.imported.Replace || !json.Valid(a.imported.Rules) || !bytes.Contains(a.imported.Rules, []byte("allow-app1")) {
				t.Errorf("agent got %+v", a.imported)
			}
		}},
		{"import stdin json", []string{"policy", "import", "-", "-o", "json"}, validPolicy, 0, []string{`"revision": 12`, `"count": 3`}, "", nil},
		{"import invalid is caught locally", []string{"--socket", missing, "policy", "import", bad}, "", 1, nil,
			"bad.json: rule 0 (labels name=allow-app1): ingress[0].toPorts[0].ports[0].port", nil},
		{"import missing file", []string{"policy", "import", filepath.Join(dir, "nope.json")}, "", 1, nil, "read policy", nil},
		{"validate", []string{"--socket", missing, "policy", "validate", good}, "", 0, []string{"Valid: 2 rules\n"}, "", nil},
		{"validate stdin json", []string{"policy", "validate", "-", "-o", "json"}, `{"endpointSelector": {}}`, 0, []string{`"count": 1`}, "", nil},
		{"validate invalid", []string{"policy", "validate", bad}, "", 1, nil, "ports[0].port", nil},
		{"get", []string{"policy", "get", "name=allow-app1", "k8s:team=a"}, "", 0, []string{"  {\n    \"endpointSelector\"", "Revision: 12\n"}, "", func(t *testing.T) {
			if a.query != "label=name%3Dallow-app1&label=k8s%3Ateam%3Da" {
				t.Errorf("query = %q", a.query)
			}
		}},
		{"get json", []string{"policy", "get", "-o", "json"}, "", 0, []string{`"revision": 12`, `"rules": [`}, "", nil},
		{"delete", []string{"policy", "delete", "name=allow-app1"}, "", 0, []string{"Revision: 13"}, "", func(t *testing.T) {
			if a.deleted.All || len(a.deleted.Labels) != 1 {
				t.Errorf("agent got %+v", a.deleted)
			}
		}},
		{"delete all", []string{"policy", "delete", "--all"}, "", 0, []string{"Revision: 13"}, "", func(t *testing.T) {
			if !a.deleted.All || len(a.deleted.Labels) != 0 {
				t.Errorf("agent got %+v", a.deleted)
			}
		}},
		{"delete nothing", []string{"policy", "delete"}, "", 1, nil, "give the labels", nil},
		{"delete both", []string{"policy", "delete", "a", "--all"}, "", 1, nil, "not both", nil},
		{"trace", []string{"policy", "trace", "--src", "container:name=app1", "--dst", "container:name=app2", "-d", "k8s:x=y", "--dport", "443/TCP"}, "",
			0, []string{"Final verdict: ALLOWED\n"}, "", func(t *testing.T) {
				want := api.PolicyTraceRequest{Src: []string{"container:name=app1"}, Dst: []string{"container:name=app2", "k8s:x=y"}, DPort: 443, Proto: "tcp"}
				if a.traced.DPort != want.DPort || a.traced.Proto != want.Proto || strings.Join(a.traced.Dst, " ") != strings.Join(want.Dst, " ") {
					t.Errorf("agent got %+v, want %+v", a.traced, want)
				}
			}},
		{"trace port only", []string{"policy", "trace", "-s", "a", "-d", "b", "--dport", "53"}, "", 0, []string{"Tracing"}, "", func(t *testing.T) {
			if a.traced.Proto != "" || a.traced.DPort != 53 {
				t.Errorf("agent got %+v", a.traced)
			}
		}},
		{"trace bad port", []string{"policy", "trace", "-s", "a", "-d", "b", "--dport", "http"}, "", 1, nil, `"http" is not a port`, nil},
		{"trace bad proto", []string{"policy", "trace", "-s", "a", "-d", "b", "--dport", "80/gre"}, "", 1, nil, `unknown protocol "gre"`, nil},
		{"trace no dport", []string{"policy", "trace", "-s", "a", "-d", "b"}, "", 1, nil, "--dport is required", nil},
		{"trace no src", []string{"policy", "trace", "-d", "b", "--dport", "80"}, "", 1, nil, "give --src and --dst", nil},
		{"bpf policy list", []string{"bpf", "policy", "list"}, "", 0, []string{"517        ingress     Allow (proxy)   30012"}, "", func(t *testing.T) {
			if a.query != "" {
				t.Errorf("query = %q, want none", a.query)
			}
		}},
		{"bpf policy list one", []string{"bpf", "policy", "list", "517", "-o", "json"}, "", 0, []string{`"proxyPort": 15001`}, "", func(t *testing.T) {
			if a.query != "endpoint=517" {
				t.Errorf("query = %q", a.query)
			}
		}},
		{"bpf policy list bad id", []string{"bpf", "policy", "list", "x"}, "", 1, nil, `parse endpoint ID "x"`, nil},
		{"bpf ct list", []string{"bpf", "ct", "list"}, "", 0, []string{"reply       30012->48213"}, "", nil},
		{"bpf ct list json", []string{"bpf", "ct", "list", "-o", "json"}, "", 0, []string{`"expiresSeconds": 58`}, "", nil},
		{"monitor", []string{"monitor", "--type", "drop", "-t", "policy-verdict"}, "", 0,
			[]string{"Listening for drop, policy-verdict events", "drop (Policy denied) ingress to endpoint 2921 (db)"}, "", func(t *testing.T) {
				if a.query != "type=drop&type=policy-verdict" {
					t.Errorf("query = %q", a.query)
				}
			}},
		{"monitor json", []string{"monitor", "-o", "json"}, "", 0, []string{"{\"time\":\"2026-11-25T12:00:00Z\",\"type\":\"drop\""}, "", nil},
		{"monitor bad type", []string{"monitor", "--type", "drops"}, "", 1, nil, `unknown event type "drops"`, nil},
		{"monitor agent down", []string{"--socket", missing, "monitor"}, "", 1, nil, "is nori-agent running?", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(api.SocketEnv, a.sock)
			var o, e bytes.Buffer
			code := runWith(context.Background(), tt.args, strings.NewReader(tt.stdin), &o, &e)
			out, errOut := o.String(), e.String()
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if tt.wantErrSub != "" {
				if !strings.Contains(errOut, tt.wantErrSub) || strings.Count(errOut, "\n") != 1 {
					t.Errorf("stderr = %q, want one line with %q", errOut, tt.wantErrSub)
				}
			} else if errOut != "" {
				t.Errorf("unexpected stderr: %q", errOut)
			}
			if tt.check != nil {
				tt.check(t)
			}
		})
	}
}

// TestMonitorJSONIsNDJSON checks that every line of -o json decodes alone.
func TestMonitorJSONIsNDJSON(t *testing.T) {
	a := newPolicyAgent(t)
	var o, e bytes.Buffer
	if code := runWith(context.Background(), []string{"--socket", a.sock, "-o", "json", "monitor"}, nil, &o, &e); code != 0 {
		t.Fatalf("exit %d: %s", code, e.String())
	}
	lines := strings.Split(strings.TrimSpace(o.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), o.String())
	}
	for _, l := range lines {
		var ev api.MonitorEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
	}
}
