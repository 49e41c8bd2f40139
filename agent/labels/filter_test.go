// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package labels

import (
	"reflect"
	"testing"
)

func TestFilterIdentityLabels(t *testing.T) {
	container := map[string]string{
		"app":                                    "web",
		"tier":                                   "front",
		"flag":                                   "",
		"nerdctl/name":                           "web1",
		"nerdctl/networks":                       `["nori"]`,
		"io.containerd.image.config.stop-signal": "SIGTERM",
		"org.opencontainers.image.title":         "busybox",
		"io.podman.annotations.autoremove":       "FALSE",
		"io.buildah.version":                     "1.28",
		"com.docker.compose.project":             "demo",
		"maintainer":                             "someone",
		"io.kubernetes.pod.name":                 "x",
		"annotation.io.example":                  "y",
		"com.example.team":                       "blue",
	}
	tests := []struct {
		name     string
		patterns []string
		want     []string
	}{
		{
			name: "defaults",
			want: []string{"container:app=web", "container:com.example.team=blue", "container:flag", "container:tier=front"},
		},
		{
			name:     "user exclude",
			patterns: []string{"!tier", "!com.example."},
			want:     []string{"container:app=web", "container:flag"},
		},
		{
			name:     "include switches to allow list",
			patterns: []string{"app"},
			want:     []string{"container:app=web"},
		},
		{
			name:     "longer include beats default exclude",
			patterns: []string{"com.docker.compose.project"},
			want:     []string{"container:com.docker.compose.project=demo"},
		},
		{
			name:     "source prefix accepted",
			patterns: []string{"container:tier", "any:app"},
			want:     []string{"container:app=web", "container:tier=front"},
		},
		{
			name:     "longer exclude beats include",
			patterns: []string{"com.", "!com.example.team"},
			want:     []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFilter(tt.patterns)
			if err != nil {
				t.Fatalf("NewFilter: %v", err)
			}
			got := f.IdentityLabels(container)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("IdentityLabels = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewFilterRejects(t *testing.T) {
	for _, p := range []string{"reserved:host", "!", "container:", "!k8s:app"} {
		if _, err := NewFilter([]string{p}); err == nil {
			t.Errorf("NewFilter(%q) succeeded, want error", p)
		}
	}
}

func TestDefaultFilterNil(t *testing.T) {
	if got := DefaultFilter().IdentityLabels(nil); len(got) != 0 {
		t.Fatalf("IdentityLabels(nil) = %q, want none", got)
	}
}
