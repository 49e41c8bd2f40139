// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package labels

import (
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		name string
		req  Request
		want target
	}{
		{"nerdctl default namespace", Request{ContainerID: "default-" + id},
			target{runtime: RuntimeNerdctl, namespace: "default", id: id}},
		{"nerdctl namespace with dash", Request{ContainerID: "nori-test-" + id, Args: map[string]string{"IgnoreUnknown": "1"}},
			target{runtime: RuntimeNerdctl, namespace: "nori-test", id: id}},
		{"podman", Request{ContainerID: id, Args: map[string]string{"IgnoreUnknown": "1", ArgPodName: "web"}},
			target{runtime: RuntimePodman, id: id}},
		{"cri sandbox is not podman", Request{ContainerID: id, Args: map[string]string{ArgPodName: "p", argPodNamespace: "default"}},
			target{runtime: RuntimeUnknown, id: id}},
		{"bare id without name", Request{ContainerID: id},
			target{runtime: RuntimeUnknown, id: id}},
		{"short id", Request{ContainerID: "default-abc", Args: map[string]string{ArgPodName: "x"}},
			target{runtime: RuntimeUnknown, id: "default-abc"}},
		{"docker declared", Request{ContainerID: id, Runtime: RuntimeDocker},
			target{runtime: RuntimeDocker, id: id}},
		{"nerdctl declared", Request{ContainerID: "ns-" + id, Runtime: RuntimeNerdctl},
			target{runtime: RuntimeNerdctl, namespace: "ns", id: id}},
		{"upper-case hex is not nerdctl", Request{ContainerID: "default-" + strings.ToUpper(id)},
			target{runtime: RuntimeUnknown, id: "default-" + strings.ToUpper(id)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := detect(tt.req); got != tt.want {
				t.Fatalf("detect = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSyncAndImmediate(t *testing.T) {
	id := strings.Repeat("ab", 32)
	r := NewResolver(Config{}, nil)
	tests := []struct {
		req     Request
		sync    bool
		runtime string
		name    string
	}{
		{Request{ContainerID: "default-" + id}, true, RuntimeNerdctl, ""},
		{Request{ContainerID: id, Args: map[string]string{ArgPodName: "web"}}, false, RuntimePodman, "web"},
		{Request{ContainerID: id, Runtime: RuntimeDocker}, false, RuntimeDocker, ""},
	}
	for _, tt := range tests {
		if got := r.Sync(tt.req); got != tt.sync {
			t.Errorf("Sync(%+v) = %v, want %v", tt.req, got, tt.sync)
		}
		info := r.Immediate(tt.req)
		if info.Runtime != tt.runtime || info.Name != tt.name {
			t.Errorf("Immediate(%+v) = %+v, want runtime %q name %q", tt.req, info, tt.runtime, tt.name)
		}
	}
}
