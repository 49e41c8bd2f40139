// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/nori-net/nori/agent/policy"
)

// Matcher decides whether an HTTP request is allowed by a port's rules.
// A request is allowed when any rule matches it in every given field; a
// matcher without rules allows everything (a plain L4 allow behind the
// proxy, see policy.L7Policy).
type Matcher struct {
	rules []httpRule
}

type httpRule struct {
	method, path, host *regexp.Regexp
	headers            []headerMatch
}

// headerMatch is one Cilium header rule: "Name" requires the header,
// "Name: value" (or "Name value") requires a value equal to value.
type headerMatch struct {
	name     string
	value    string
	hasValue bool
}

// NewMatcher compiles rules.
func NewMatcher(rules []policy.PortRuleHTTP) (*Matcher, error) {
	m := &Matcher{}
	for i, r := range rules {
		var hr httpRule
		var err error
		if hr.method, err = policy.CompileHTTPRegex(r.Method); err != nil {
			return nil, fmt.Errorf("compile http rule %d method: %w", i, err)
		}
		if hr.path, err = policy.CompileHTTPRegex(r.Path); err != nil {
			return nil, fmt.Errorf("compile http rule %d path: %w", i, err)
		}
		if hr.host, err = policy.CompileHTTPRegex(r.Host); err != nil {
			return nil, fmt.Errorf("compile http rule %d host: %w", i, err)
		}
		for _, h := range r.Headers {
			name, value, found := strings.Cut(strings.TrimSpace(h), " ")
			name = strings.TrimSuffix(name, ":")
			if name == "" {
				return nil, fmt.Errorf("compile http rule %d header %q: want \"Name\" or \"Name value\"", i, h)
			}
			hr.headers = append(hr.headers, headerMatch{name: name, value: strings.TrimSpace(value), hasValue: found})
		}
		m.rules = append(m.rules, hr)
	}
	return m, nil
}

// Allows reports whether r is allowed.
func (m *Matcher) Allows(r *http.Request) bool {
	if m == nil || len(m.rules) == 0 {
		return true
	}
	for _, rule := range m.rules {
		if rule.matches(r) {
			return true
		}
	}
	return false
}

func (h httpRule) matches(r *http.Request) bool {
	if h.method != nil && !h.method.MatchString(r.Method) {
		return false
	}
	if h.path != nil && !h.path.MatchString(requestPath(r)) {
		return false
	}
	if h.host != nil && !h.host.MatchString(r.Host) {
		return false
	}
	for _, hm := range h.headers {
		if !hm.matches(r) {
			return false
		}
	}
	return true
}

func (hm headerMatch) matches(r *http.Request) bool {
	var values []string
	// net/http moves Host out of the header map (and HTTP/2 :authority
	// into r.Host), so a rule on it must look there.
	if strings.EqualFold(hm.name, "host") || strings.EqualFold(hm.name, ":authority") {
		values = []string{r.Host}
	} else {
		values = r.Header.Values(hm.name)
	}
	if !hm.hasValue {
		return len(values) > 0
	}
	for _, v := range values {
		if v == hm.value {
			return true
		}
	}
	return false
}

// requestPath is what a path rule sees: the request target with its query,
// as Envoy matches the :path header in Cilium.
func requestPath(r *http.Request) string {
	if r.RequestURI != "" && r.RequestURI != "*" && !strings.Contains(r.RequestURI, "://") {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}
