// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/policy"
)

const testRules = `[{
  "labels": ["name=allow-web"],
  "endpointSelector": {"matchLabels": {"name": "web"}},
  "ingress": [{"fromEndpoints": [{"matchLabels": {"name": "client"}}], "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}]
}]`

const badRules = `[{"labels": ["name=allow-web"], "endpointSelector": {},
  "ingress": [{"toPorts": [{"ports": [{"port": "abc"}]}]}]}]`

// startServer serves b on a unix socket in a temporary directory and
// returns a client for it.
func startServer(t *testing.T, b Backend) (*api.Client, *Server) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "nori.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if b.Ready == nil {
		b.Ready = func() error { return nil }
	}
	s := newServer(ln, b, slog.New(slog.DiscardHandler))
	go s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	c := api.NewClient(sock)
	c.Timeout = 10 * time.Second
	return c, s
}

// wantAPIError checks err's code, HTTP status and that its message has sub.
func wantAPIError(t *testing.T, err error, code string, status int, sub string) {
	t.Helper()
	var e *api.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want an *api.Error", err)
	}
	if e.Code != code || e.HTTPStatus != status || !strings.Contains(e.Message, sub) {
		t.Fatalf("error = %q (code %s, HTTP %d), want code %s, HTTP %d, containing %q", e.Message, e.Code, e.HTTPStatus, code, status, sub)
	}
}

// fakePolicy records what the handlers pass on.
type fakePolicy struct {
	rules   []policy.Rule
	replace bool
	labels  []string
	all     bool
	trace   api.PolicyTraceRequest
	epID    uint16
	calls   int
}

func (f *fakePolicy) backend() Backend {
	return Backend{
		PolicyImport: func(_ context.Context, rules []policy.Rule, replace bool) (api.PolicyRevision, error) {
			f.calls++
			f.rules, f.replace = rules, replace
			return api.PolicyRevision{Revision: 7, Count: len(rules) + 1, Changed: len(rules)}, nil
		},
		PolicyGet: func(_ context.Context, labels []string) (uint64, []policy.Rule, error) {
			f.calls++
			f.labels = labels
			if len(labels) > 0 && labels[0] == "none" {
				return 7, nil, nil
			}
			rules, err := policy.Parse([]byte(testRules))
			return 7, rules, err
		},
		PolicyDelete: func(_ context.Context, labels []string, all bool) (api.PolicyRevision, error) {
			f.calls++
			f.labels, f.all = labels, all
			if len(labels) > 0 && labels[0] == "missing" {
				return api.PolicyRevision{}, &api.Error{Code: api.CodeNotFound, Message: "no rule has the labels [missing]"}
			}
			return api.PolicyRevision{Revision: 8, Changed: 1}, nil
		},
		PolicyTrace: func(_ context.Context, req api.PolicyTraceRequest) (*api.PolicyTrace, error) {
			f.calls++
			f.trace = req
			return &api.PolicyTrace{Verdict: "allow", Lines: []string{"Tracing ...", "Final verdict: ALLOWED"}}, nil
		},
		BPFPolicy: func(_ context.Context, id uint16) ([]api.BPFPolicyEntry, error) {
			f.calls++
			f.epID = id
			if id == 99 {
				return nil, nil
			}
			return []api.BPFPolicyEntry{{EndpointID: id, Direction: "ingress", Identity: 260, Proto: "tcp", Port: 80, Verdict: "allow"}}, nil
		},
		BPFCT: func(context.Context) ([]api.BPFCTEntry, error) {
			f.calls++
			return []api.BPFCTEntry{{Proto: "tcp", Src: "10.0.1.2:40000", Dst: "10.0.1.3:80", ExpiresSeconds: 21000}}, nil
		},
	}
}

func TestPolicyHandlers(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		call func(c *api.Client) error
		// check runs on success with the fake's record; nil when an error
		// is expected.
		check      func(t *testing.T, f *fakePolicy)
		wantCode   string
		wantStatus int
		wantSub    string
	}{
		{"import", func(c *api.Client) error {
			r, err := c.PolicyImport(ctx, json.RawMessage(testRules), true)
			if err == nil && (r.Revision != 7 || r.Count != 2 || r.Changed != 1) {
				return errors.New("unexpected answer")
			}
			return err
		}, func(t *testing.T, f *fakePolicy) {
			if len(f.rules) != 1 || !f.replace || f.rules[0].Labels.Strings()[0] != "unspec:name=allow-web" {
				t.Errorf("backend got rules %+v replace %v", f.rules, f.replace)
			}
		}, "", 0, ""},
		{"import names the field", func(c *api.Client) error {
			_, err := c.PolicyImport(ctx, json.RawMessage(badRules), false)
			return err
		}, nil, api.CodeInvalid, http.StatusBadRequest, "rule 0 (labels name=allow-web): ingress[0].toPorts[0].ports[0].port"},
		{"import without rules", func(c *api.Client) error {
			_, err := c.PolicyImport(ctx, nil, false)
			return err
		}, nil, api.CodeInvalid, http.StatusBadRequest, "rules"},
		{"validate", func(c *api.Client) error {
			r, err := c.PolicyValidate(ctx, json.RawMessage(testRules))
			if err == nil && r.Count != 1 {
				return errors.New("unexpected count")
			}
			return err
		}, func(t *testing.T, f *fakePolicy) {
			if f.calls != 0 {
				t.Errorf("validate called the backend")
			}
		}, "", 0, ""},
		{"validate invalid", func(c *api.Client) error {
			_, err := c.PolicyValidate(ctx, json.RawMessage(`{"endpointSelector": {}, "ingres": []}`))
			return err
		}, nil, api.CodeInvalid, http.StatusBadRequest, "rule 0: ingres: unknown field"},
		{"get", func(c *api.Client) error {
			r, err := c.PolicyGet(ctx, []string{"name=allow-web", "k8s:a=b"})
			if err != nil {
				return err
			}
			if r.Revision != 7 {
				return errors.New("unexpected revision")
			}
			if rules, err := policy.Parse(r.Rules); err != nil || len(rules) != 1 {
				return errors.New("rules do not parse back: " + string(r.Rules))
			}
			return nil
		}, func(t *testing.T, f *fakePolicy) {
			if !slices.Equal(f.labels, []string{"name=allow-web", "k8s:a=b"}) {
				t.Errorf("backend got labels %q", f.labels)
			}
		}, "", 0, ""},
		{"get nothing is an empty list", func(c *api.Client) error {
			r, err := c.PolicyGet(ctx, []string{"none"})
			if err == nil && string(r.Rules) != "[]" {
				return errors.New("rules = " + string(r.Rules))
			}
			return err
		}, func(*testing.T, *fakePolicy) {}, "", 0, ""},
		{"get bad label", func(c *api.Client) error {
			_, err := c.PolicyGet(ctx, []string{":x"})
			return err
		}, nil, api.CodeInvalid, http.StatusBadRequest, "label[0]"},
		{"delete", func(c *api.Client) error {
			_, err := c.PolicyDelete(ctx, []string{"name=allow-web"}, false)
			return err
		}, func(t *testing.T, f *fakePolicy) {
			if f.all || !slices.Equal(f.labels, []string{"name=allow-web"}) {
				t.Errorf("backend got labels %q all %v", f.labels, f.all)
			}
		}, "", 0, ""},
		{"delete all", func(c *api.Client) error {
			_, err := c.PolicyDelete(ctx, nil, true)
			return err
		}, func(t *testing.T, f *fakePolicy) {
			if !f.all {
				t.Error("backend did not get all")
			}
		}, "", 0, ""},
		{"delete nothing", func(c *api.Client) error {
			_, err := c.PolicyDelete(ctx, nil, false)
			return err
		}, nil, api.CodeInvalid, http.StatusBadRequest, "labels"},
		{"delete labels and all", func(c *api.Client) error {
			_, err := c.PolicyDelete(ctx, []string{"a"}, true)
			return err
		}, nil, api.CodeInvalid, http.StatusBadRequest, "exclude"},
		{"delete missing", func(c *api.Client) error {
			_, err := c.PolicyDelete(ctx, []string{"missing"}, false)
			return err
		}, nil, api.CodeNotFound, http.StatusNotFound, "no rule"},
		{"trace", func(c *api.Client) error {
			r, err := c.PolicyTrace(ctx, &api.PolicyTraceRequest{Src: []string{"name=client"}, Dst: []string{"name=web"}, DPort: 80, Proto: "UDP"})
			if err == nil && r.Verdict != "allow" {
				return errors.New("unexpected verdict")
			}
			return err
		}, func(t *testing.T, f *fakePolicy) {
			if f.trace.Proto != "udp" || f.trace.DPort != 80 || f.trace.Src[0] != "name=client" {
				t.Errorf("backend got %+v", f.trace)
			}
		}, "", 0, ""},
		{"trace default proto", func(c *api.Client) error {
			_, err := c.PolicyTrace(ctx, &api.PolicyTraceRequest{Src: []string{"a"}, Dst: []string{"b"}, DPort: 80})
			return err
		}, func(t *testing.T, f *fakePolicy) {
			if f.trace.Proto != "tcp" {
				t.Errorf("proto = %q, want tcp", f.trace.Proto)
			}
		}, "", 0, ""},
		{"trace bad proto", func(c *api.Client) error {
			_, err := c.PolicyTrace(ctx, &api.PolicyTraceRequest{Src: []string{"a"}, Dst: []string{"b"}, Proto: "gre"})
			return err
		}, nil, api.CodeInvalid, http.StatusBadRequest, `proto: unknown protocol "gre"`},
		{"trace without src", func(c *api.Client) error {
			_, err := c.PolicyTrace(ctx, &api.PolicyTraceRequest{Dst: []string{"b"}})
			return err
		}, nil, api.CodeInvalid, http.StatusBadRequest, "src"},
		{"bpf policy one endpoint", func(c *api.Client) error {
			es, err := c.BPFPolicy(ctx, 12)
			if err == nil && (len(es) != 1 || es[0].EndpointID != 12) {
				return errors.New("unexpected entries")
			}
			return err
		}, func(t *testing.T, f *fakePolicy) {
			if f.epID != 12 {
				t.Errorf("endpoint = %d", f.epID)
			}
		}, "", 0, ""},
		{"bpf policy empty is a list", func(c *api.Client) error {
			es, err := c.BPFPolicy(ctx, 99)
			if err == nil && (es == nil || len(es) != 0) {
				return errors.New("want an empty list")
			}
			return err
		}, func(*testing.T, *fakePolicy) {}, "", 0, ""},
		{"bpf ct", func(c *api.Client) error {
			es, err := c.BPFCT(ctx)
			if err == nil && (len(es) != 1 || es[0].Dst != "10.0.1.3:80") {
				return errors.New("unexpected entries")
			}
			return err
		}, func(*testing.T, *fakePolicy) {}, "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakePolicy{}
			c, _ := startServer(t, f.backend())
			err := tt.call(c)
			if tt.check != nil {
				if err != nil {
					t.Fatalf("call: %v", err)
				}
				tt.check(t, f)
				return
			}
			wantAPIError(t, err, tt.wantCode, tt.wantStatus, tt.wantSub)
			if tt.wantCode == api.CodeInvalid && f.calls != 0 {
				t.Errorf("an invalid request reached the backend")
			}
		})
	}
}

func TestBPFPolicyBadEndpoint(t *testing.T) {
	f := &fakePolicy{}
	c, _ := startServer(t, f.backend())
	// The client cannot send a bad ID; ask over plain HTTP.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", c.Socket)
	}}}
	resp, err := hc.Get("http://nori" + api.PathBPFPolicy + "?endpoint=70000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest || e.Code != api.CodeInvalid || !strings.Contains(e.Message, "70000") {
		t.Fatalf("answer %d %+v", resp.StatusCode, e)
	}
}

// TestNoBackend checks that an agent without the policy parts says so
// clearly instead of panicking; validate needs no backend.
func TestNoBackend(t *testing.T) {
	ctx := context.Background()
	c, _ := startServer(t, Backend{})
	calls := map[string]func() error{
		"policy import": func() error { _, err := c.PolicyImport(ctx, json.RawMessage(testRules), false); return err },
		"policy get":    func() error { _, err := c.PolicyGet(ctx, nil); return err },
		"policy delete": func() error { _, err := c.PolicyDelete(ctx, nil, true); return err },
		"policy trace": func() error {
			_, err := c.PolicyTrace(ctx, &api.PolicyTraceRequest{Src: []string{"a"}, Dst: []string{"b"}})
			return err
		},
		"policy map":    func() error { _, err := c.BPFPolicy(ctx, 0); return err },
		"conntrack map": func() error { _, err := c.BPFCT(ctx); return err },
		"monitor":       func() error { return c.Monitor(ctx, nil, func(api.MonitorEvent) error { return nil }) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			wantAPIError(t, call(), api.CodeNotImplemented, http.StatusNotImplemented, "not available")
		})
	}
	if _, err := c.PolicyValidate(ctx, json.RawMessage(testRules)); err != nil {
		t.Errorf("validate without backend: %v", err)
	}
}
