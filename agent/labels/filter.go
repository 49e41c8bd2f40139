// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package labels

import (
	"fmt"
	"sort"
	"strings"
)

// Source is the label source of every label that comes from a container.
const Source = "container"

// DefaultExcludes keep runtime-internal and image-metadata labels out of
// identities: nerdctl and Docker merge image labels into the container's,
// and every distinct label set costs an identity.
var DefaultExcludes = []string{
	"nerdctl/",
	"io.containerd.",
	"org.opencontainers.",
	"io.podman.",
	"io.buildah.",
	"com.docker.",
	"maintainer",
	"io.kubernetes",
	"annotation.",
}

type prefix struct {
	text    string
	exclude bool
}

// Filter decides which container labels are identity-relevant, the way
// Cilium's `--labels` does: patterns are key prefixes, `!prefix` excludes.
// When any include pattern is given only included labels count;
// otherwise everything not excluded counts. When both match, the longer
// pattern wins, so `!io.kubernetes` plus `io.kubernetes.pod.name` keeps
// just that key.
type Filter struct {
	prefixes []prefix
	allowAll bool // no include pattern: keep what is not excluded
}

// NewFilter builds a filter from DefaultExcludes plus the user's patterns.
// A pattern may carry the `container:` source (`container:app`); other
// sources never match a container label, so they are rejected.
func NewFilter(patterns []string) (*Filter, error) {
	f := &Filter{allowAll: true}
	for _, p := range DefaultExcludes {
		f.prefixes = append(f.prefixes, prefix{text: p, exclude: true})
	}
	for _, raw := range patterns {
		p := strings.TrimSpace(raw)
		if p == "" {
			continue
		}
		var pf prefix
		if strings.HasPrefix(p, "!") {
			pf.exclude = true
			p = p[1:]
		}
		if src, rest, ok := strings.Cut(p, ":"); ok {
			if src != Source && src != "any" {
				return nil, fmt.Errorf("parse label pattern %q: source %q is not %q", raw, src, Source)
			}
			p = rest
		}
		if p == "" {
			return nil, fmt.Errorf("parse label pattern %q: empty prefix", raw)
		}
		pf.text = p
		if !pf.exclude {
			f.allowAll = false
		}
		f.prefixes = append(f.prefixes, pf)
	}
	return f, nil
}

// DefaultFilter is NewFilter(nil).
func DefaultFilter() *Filter {
	f, _ := NewFilter(nil)
	return f
}

// Keep reports whether the label key counts for identity.
func (f *Filter) Keep(key string) bool {
	included, excluded := 0, 0
	for _, p := range f.prefixes {
		if !strings.HasPrefix(key, p.text) {
			continue
		}
		n := len(p.text)
		if p.exclude {
			excluded = max(excluded, n)
		} else {
			included = max(included, n)
		}
	}
	if f.allowAll && excluded == 0 {
		return true
	}
	return included > excluded
}

// IdentityLabels returns the identity labels of a container, sorted:
// `container:k=v`, or `container:k` for an empty value as Cilium prints
// it.
func (f *Filter) IdentityLabels(labels map[string]string) []string {
	out := make([]string, 0, len(labels))
	for k, v := range labels {
		if !f.Keep(k) {
			continue
		}
		if v == "" {
			out = append(out, Source+":"+k)
		} else {
			out = append(out, Source+":"+k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}
