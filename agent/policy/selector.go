// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"slices"
	"strings"
)

// EndpointSelector is a Kubernetes label selector over identity labels.
// Keys are "source:key" or "key"; a key without a source matches the key
// from any source, as Cilium's GetExtendedKeyFrom does. The empty selector
// selects everything.
type EndpointSelector struct {
	MatchLabels      map[string]string `json:"matchLabels,omitempty"`
	MatchExpressions []Requirement     `json:"matchExpressions,omitempty"`
}

// Requirement is one matchExpressions element.
type Requirement struct {
	Key      string   `json:"key"`
	Operator Operator `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// Operator is In, NotIn, Exists or DoesNotExist.
type Operator string

// Selector operators (case-sensitive, as in Kubernetes).
const (
	OpIn           Operator = "In"
	OpNotIn        Operator = "NotIn"
	OpExists       Operator = "Exists"
	OpDoesNotExist Operator = "DoesNotExist"
)

// IsWildcard reports whether the selector selects every identity.
func (s EndpointSelector) IsWildcard() bool {
	return len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}

// splitKey splits a selector key into source and key; Cilium also accepts
// the "source.key" form only for its own prefixes, so ':' is the one
// separator here.
func splitKey(k string) (source, key string) {
	if i := strings.IndexByte(k, ':'); i >= 0 {
		return k[:i], k[i+1:]
	}
	return SourceAny, k
}

// values returns the values the identity has for a selector key; a key can
// appear once per source.
func (ls Labels) values(selKey string) []string {
	src, key := splitKey(selKey)
	var out []string
	for _, l := range ls {
		if l.Key == key && (src == SourceAny || src == l.Source) {
			out = append(out, l.Value)
		}
	}
	return out
}

// Matches reports whether an identity with labels ls is selected.
func (s EndpointSelector) Matches(ls Labels) bool {
	for k, v := range s.MatchLabels {
		if !slices.Contains(ls.values(k), v) {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		vals := ls.values(r.Key)
		hit := slices.ContainsFunc(vals, func(v string) bool { return slices.Contains(r.Values, v) })
		var ok bool
		switch r.Operator {
		case OpIn:
			ok = hit
		case OpNotIn:
			// Kubernetes semantics: an absent key satisfies NotIn.
			ok = !hit
		case OpExists:
			ok = len(vals) > 0
		case OpDoesNotExist:
			ok = len(vals) == 0
		}
		if !ok {
			return false
		}
	}
	return true
}
