// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package identity

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Label sources used by Nori.
const (
	SourceContainer = "container"
	SourceReserved  = "reserved"
	// SourceUnspec is the source of a label written without one.
	SourceUnspec = "unspec"
)

// Label is one source:key=value label.
type Label struct {
	Source string
	Key    string
	Value  string
}

// ParseLabel reads "source:key=value", "key=value" (source unspec) or
// "source:key" (empty value). A ':' after the '=' belongs to the value.
func ParseLabel(s string) (Label, error) {
	var l Label
	eq := strings.IndexByte(s, '=')
	if c := strings.IndexByte(s, ':'); c >= 0 && (eq < 0 || c < eq) {
		l.Source, s = s[:c], s[c+1:]
		if eq >= 0 {
			eq -= c + 1
		}
	} else {
		l.Source = SourceUnspec
	}
	if eq >= 0 {
		l.Key, l.Value = s[:eq], s[eq+1:]
	} else {
		l.Key = s
	}
	if l.Key == "" || l.Source == "" {
		return Label{}, fmt.Errorf("parse label %q: empty source or key", s)
	}
	return l, nil
}

// String is "source:key=value", or "source:key" when the value is empty,
// as Cilium prints labels.
func (l Label) String() string {
	if l.Value == "" {
		return l.Source + ":" + l.Key
	}
	return l.Source + ":" + l.Key + "=" + l.Value
}

// kvstoreForm is "source:key=value" with the '=' always present (Cilium's
// FormatForKVStore).
func (l Label) kvstoreForm() string { return l.Source + ":" + l.Key + "=" + l.Value }

// Labels is a label set in canonical order: sorted by key, then source.
type Labels []Label

// NewLabels parses and sorts a label set; the same key from the same source
// twice with different values is an error, exact duplicates are dropped.
func NewLabels(ss []string) (Labels, error) {
	ls := make(Labels, 0, len(ss))
	for _, s := range ss {
		l, err := ParseLabel(s)
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
	}
	slices.SortFunc(ls, func(a, b Label) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.Source, b.Source), strings.Compare(a.Value, b.Value))
	})
	out := ls[:0]
	for i, l := range ls {
		if i > 0 && l.Key == ls[i-1].Key && l.Source == ls[i-1].Source {
			if l.Value == ls[i-1].Value {
				continue
			}
			return nil, fmt.Errorf("label %s:%s given twice with values %q and %q", l.Source, l.Key, ls[i-1].Value, l.Value)
		}
		out = append(out, l)
	}
	return out, nil
}

// Key is the canonical form stored in etcd, Cilium's FormatForKVStore:
// "source:key=value;" per label. A ';' or '\' inside a label is escaped
// with '\' so the form can be parsed back (Cilium does not escape; such
// labels are rare).
func (ls Labels) Key() string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(escape(l.kvstoreForm()))
		b.WriteByte(';')
	}
	return b.String()
}

// Strings lists the labels as String shows them.
func (ls Labels) Strings() []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.String()
	}
	return out
}

// ParseKey reverses Key.
func ParseKey(key string) (Labels, error) {
	var ss []string
	var cur strings.Builder
	for i := 0; i < len(key); i++ {
		switch c := key[i]; c {
		case '\\':
			if i+1 < len(key) {
				i++
				cur.WriteByte(key[i])
			}
		case ';':
			ss = append(ss, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("parse label key %q: missing final ';'", key)
	}
	return NewLabels(ss)
}

func escape(s string) string {
	if !strings.ContainsAny(s, `;\`) {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, `;`, `\;`).Replace(s)
}
