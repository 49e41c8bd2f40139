// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package labels

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParsePodmanInspect(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Info
		wantErr bool
	}{
		{"labels", `[{"Name":"web","Config":{"Labels":{"a":"b"}}}]`,
			Info{Runtime: RuntimePodman, Name: "web", Labels: map[string]string{"a": "b"}}, false},
		{"no labels", `[{"Name":"web","Config":{"Labels":null}}]`,
			Info{Runtime: RuntimePodman, Name: "web", Labels: map[string]string{}}, false},
		{"empty", `[]`, Info{}, true},
		{"garbage", `Error: no such container`, Info{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePodmanInspect([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestResolvePodmanRetries stands in a script for podman that fails until
// its third run, as podman does while the container lock is held.
func TestResolvePodmanRetries(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "podman")
	body := `#!/bin/sh
n=$(cat "$COUNTER" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$COUNTER"
[ "$n" -lt 3 ] && { echo "Error: container is locked" >&2; exit 125; }
[ "$1" = "--root" ] || exit 2
echo '[{"Name":"infra","Config":{"Labels":{"app":"db"}}}]'
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	counter := filepath.Join(dir, "count")
	r := NewResolver(Config{
		PodmanCommand: []string{script, "--root", "/x"},
		PodmanEnv:     []string{"COUNTER=" + counter},
		RetryTimeout:  5 * time.Second,
	}, nil)
	id := strings.Repeat("cd", 32)
	info, err := r.Resolve(context.Background(), Request{ContainerID: id, Args: map[string]string{ArgPodName: "db1"}})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	want := Info{Runtime: RuntimePodman, Name: "db1", Labels: map[string]string{"app": "db"}}
	if !reflect.DeepEqual(info, want) {
		t.Fatalf("Resolve = %+v, want %+v", info, want)
	}
	if n, _ := os.ReadFile(counter); strings.TrimSpace(string(n)) != "3" {
		t.Fatalf("podman ran %s times, want 3", n)
	}
}
