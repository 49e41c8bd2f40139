// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package labels

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNegotiateVersion(t *testing.T) {
	tests := []struct{ ours, theirs, want string }{
		{"1.47", "1.41", "1.41"},
		{"1.47", "1.52", "1.47"},
		{"1.47", "1.47", "1.47"},
		{"1.47", "", "1.47"},
		{"1.47", "1.9", "1.9"},
		{"1.47", "2.0", "1.47"},
	}
	for _, tt := range tests {
		if got := negotiateVersion(tt.ours, tt.theirs); got != tt.want {
			t.Errorf("negotiateVersion(%q, %q) = %q, want %q", tt.ours, tt.theirs, got, tt.want)
		}
	}
}

// fakeDocker serves the two Docker API calls the client makes on a unix
// socket and records the paths asked for.
func fakeDocker(t *testing.T, apiVersion string) (socket string, paths func() []string) {
	t.Helper()
	socket = filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var mu sync.Mutex
	var seen []string
	mux := http.NewServeMux()
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		w.Write([]byte(`{"Version":"20.10.24","ApiVersion":"` + apiVersion + `"}`))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		if !strings.HasSuffix(r.URL.Path, "/containers/c1/json") {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"No such container: x"}`))
			return
		}
		w.Write([]byte(`{"Id":"c1","Name":"/web1","Config":{"Labels":{"app":"web","com.docker.compose.project":"demo"}}}`))
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return socket, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func TestDockerInspect(t *testing.T) {
	socket, paths := fakeDocker(t, "1.41")
	d := NewDockerClient(socket, time.Second)
	ctx := context.Background()
	info, err := d.Inspect(ctx, "c1")
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	want := Info{Runtime: RuntimeDocker, Name: "web1", Labels: map[string]string{"app": "web", "com.docker.compose.project": "demo"}}
	if !reflect.DeepEqual(info, want) {
		t.Fatalf("Inspect = %+v, want %+v", info, want)
	}
	if _, err := d.Inspect(ctx, "gone"); err == nil || !strings.Contains(err.Error(), "No such container") {
		t.Fatalf("Inspect(gone) error = %v, want No such container", err)
	}
	// The version is negotiated once, then used in every path.
	wantPaths := []string{"/version", "/v1.41/containers/c1/json", "/v1.41/containers/gone/json"}
	if got := paths(); !reflect.DeepEqual(got, wantPaths) {
		t.Fatalf("paths = %q, want %q", got, wantPaths)
	}
}

func TestResolveDocker(t *testing.T) {
	socket, paths := fakeDocker(t, "1.52")
	r := NewResolver(Config{DockerSocket: socket, RetryTimeout: 10 * time.Second}, nil)
	start := time.Now()
	_, err := r.Resolve(context.Background(), Request{ContainerID: "gone", Runtime: RuntimeDocker})
	if !errors.Is(err, errGone) {
		t.Fatalf("Resolve of a missing container: err = %v, want errGone", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Resolve took %v; a missing container must not be retried", took)
	}
	if got, want := paths(), []string{"/version", "/v1.47/containers/gone/json"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("paths = %q, want %q", got, want)
	}
	info, err := r.Resolve(context.Background(), Request{ContainerID: "c1", Runtime: RuntimeDocker})
	if err != nil || info.Name != "web1" {
		t.Fatalf("Resolve(c1) = %+v, %v", info, err)
	}
}
