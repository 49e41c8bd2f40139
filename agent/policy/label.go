// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Label sources with a meaning here. Identity labels are "source:key=value"
// as the identity package writes them.
const (
	SourceAny       = "any"
	SourceUnspec    = "unspec"
	SourceReserved  = "reserved"
	SourceContainer = "container"
	// SourceCIDR marks identities the agent allocates for CIDR peers; they
	// count as world.
	SourceCIDR = "cidr"
)

// Label is a rule label or an identity label.
type Label struct {
	Source string `json:"source"`
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
}

// ParseLabel reads "[source:]key[=value]"; a missing source becomes
// defaultSource (unspec for rule labels, any for CLI selections, as in
// Cilium). A ':' after the '=' belongs to the value.
func ParseLabel(s, defaultSource string) (Label, error) {
	l := Label{Source: defaultSource}
	rest := s
	eq := strings.IndexByte(rest, '=')
	if c := strings.IndexByte(rest, ':'); c >= 0 && (eq < 0 || c < eq) {
		l.Source, rest = rest[:c], rest[c+1:]
		if l.Source == "" {
			return Label{}, fmt.Errorf("label %q: empty source before ':'", s)
		}
	}
	if i := strings.IndexByte(rest, '='); i >= 0 {
		l.Key, l.Value = rest[:i], rest[i+1:]
	} else {
		l.Key = rest
	}
	if l.Key == "" {
		return Label{}, fmt.Errorf("label %q: empty key", s)
	}
	return l, nil
}

// String prints source:key=value, leaving out "=" for an empty value.
func (l Label) String() string {
	s := l.Source + ":" + l.Key
	if l.Value != "" {
		s += "=" + l.Value
	}
	return s
}

// short prints the label as a user wrote it: no "unspec:" source.
func (l Label) short() string {
	s := l.String()
	if l.Source == SourceUnspec {
		s = strings.TrimPrefix(s, SourceUnspec+":")
	}
	return s
}

// labelMatches reports whether a selection label q (source may be "any")
// matches label l.
func labelMatches(q, l Label) bool {
	return q.Key == l.Key && q.Value == l.Value &&
		(q.Source == l.Source || q.Source == SourceAny || l.Source == SourceAny)
}

// MarshalJSON writes the string form, or the object form when the string
// would not parse back to the same label (a '=' in the key, a ':' or '='
// in the source).
func (l Label) MarshalJSON() ([]byte, error) {
	if strings.ContainsAny(l.Source, ":=") || strings.Contains(l.Key, "=") {
		type object Label // no MarshalJSON: plain struct encoding
		return json.Marshal(object(l))
	}
	return json.Marshal(l.String())
}

// Labels is a rule's label list.
type Labels []Label

// ParseLabels parses CLI label arguments; a missing source means any.
func ParseLabels(ss []string) (Labels, error) {
	out := make(Labels, 0, len(ss))
	for _, s := range ss {
		l, err := ParseLabel(s, SourceAny)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// Contains reports whether every label of sel matches a label of ls, the
// test `policy get/delete LABELS` and --replace use.
func (ls Labels) Contains(sel Labels) bool {
	for _, q := range sel {
		found := false
		for _, l := range ls {
			if labelMatches(q, l) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Strings lists the labels in source:key=value form.
func (ls Labels) Strings() []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.String()
	}
	return out
}

func (ls Labels) short() string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.short()
	}
	return strings.Join(parts, ",")
}

// identityLabels parses an identity's "source:key=value" labels; a label
// without a source cannot come from an identity, so it gets unspec.
func identityLabels(ss []string) (Labels, error) {
	out := make(Labels, 0, len(ss))
	for _, s := range ss {
		l, err := ParseLabel(s, SourceUnspec)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}
