// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"net/http/httptest"
	"testing"

	"github.com/nori-net/nori/agent/policy"
)

func TestMatcher(t *testing.T) {
	tests := []struct {
		name    string
		rules   []policy.PortRuleHTTP
		method  string
		target  string
		host    string
		headers map[string]string
		want    bool
	}{
		{name: "no rules allow all", method: "DELETE", target: "/x", want: true},
		{name: "method regex", rules: []policy.PortRuleHTTP{{Method: "GET|HEAD"}}, method: "HEAD", target: "/", want: true},
		{name: "method whole string", rules: []policy.PortRuleHTTP{{Method: "GET"}}, method: "GETX", target: "/", want: false},
		{name: "path with query as envoy", rules: []policy.PortRuleHTTP{{Path: "/a"}}, method: "GET", target: "/a?b=1", want: false},
		{name: "path regex covers query", rules: []policy.PortRuleHTTP{{Path: "/a(\\?.*)?"}}, method: "GET", target: "/a?b=1", want: true},
		{name: "host regex", rules: []policy.PortRuleHTTP{{Host: ".*\\.example"}}, method: "GET", target: "/", host: "web.example", want: true},
		{name: "host mismatch", rules: []policy.PortRuleHTTP{{Host: "api\\.example"}}, method: "GET", target: "/", host: "web.example", want: false},
		{name: "header without colon", rules: []policy.PortRuleHTTP{{Headers: []string{"X-A 1"}}}, method: "GET", target: "/", headers: map[string]string{"X-A": "1"}, want: true},
		{name: "header name case", rules: []policy.PortRuleHTTP{{Headers: []string{"x-a: 1"}}}, method: "GET", target: "/", headers: map[string]string{"X-A": "1"}, want: true},
		{name: "host header rule", rules: []policy.PortRuleHTTP{{Headers: []string{"Host: web.example"}}}, method: "GET", target: "/", host: "web.example", want: true},
		{name: "any rule suffices", rules: []policy.PortRuleHTTP{{Path: "/a"}, {Path: "/b"}}, method: "GET", target: "/b", want: true},
		{name: "all fields of a rule", rules: []policy.PortRuleHTTP{{Path: "/a", Method: "POST"}}, method: "GET", target: "/a", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMatcher(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(tt.method, tt.target, nil)
			if tt.host != "" {
				r.Host = tt.host
			}
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			if got := m.Allows(r); got != tt.want {
				t.Fatalf("Allows = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewRequestID(t *testing.T) {
	a, b := newRequestID(), newRequestID()
	if !uuidRE.MatchString(a) || a == b {
		t.Fatalf("ids %q %q", a, b)
	}
}
