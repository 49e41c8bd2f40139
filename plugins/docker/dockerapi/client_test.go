// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package dockerapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDocker answers /version with daemonVersion and the inspect calls
// under whatever version prefix the client picked, recording it.
type fakeDocker struct {
	daemonVersion string
	versionCalls  atomic.Int32
	lastPrefix    atomic.Value
}

func (f *fakeDocker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/version" {
		f.versionCalls.Add(1)
		w.Write([]byte(`{"Version":"20.10.24","ApiVersion":"` + f.daemonVersion + `"}`))
		return
	}
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)
	f.lastPrefix.Store(parts[0])
	switch "/" + parts[1] {
	case "/containers/c1/json":
		w.Write([]byte(`{"Id":"c1full","Name":"/app1","Config":{"Labels":{"name":"app1","tier":"web"}}}`))
	case "/containers/nolabels/json":
		w.Write([]byte(`{"Id":"nolabels","Name":"/bare","Config":{"Labels":null}}`))
	case "/networks/n1":
		w.Write([]byte(`{"Id":"n1full","Name":"nori-net","Containers":{"c1full":{"Name":"app1","EndpointID":"e1"},"c2":{"EndpointID":"e2"}}}`))
	case "/containers/broken/json":
		http.Error(w, `{"message":"boom"}`, http.StatusInternalServerError)
	default:
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"message":"No such container: x"}`))
	}
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct{ ours, theirs, want string }{
		{"1.47", "1.41", "1.41"},
		{"1.47", "1.51", "1.47"},
		{"1.47", "1.47", "1.47"},
		{"1.47", "", "1.47"},
		{"1.47", "1.9", "1.9"},
		{"1.47", "2.0", "1.47"},
	} {
		if got := negotiate(tc.ours, tc.theirs); got != tc.want {
			t.Errorf("negotiate(%s, %s) = %s, want %s", tc.ours, tc.theirs, got, tc.want)
		}
	}
}

func TestClient(t *testing.T) {
	for _, tc := range []struct {
		name       string
		daemon     string
		wantPrefix string
	}{
		{"debian 20.10", "1.41", "v1.41"},
		{"docker 29", "1.52", "v" + MaxAPIVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDocker{daemonVersion: tc.daemon}
			srv := httptest.NewServer(f)
			t.Cleanup(srv.Close)
			c, err := New("tcp://"+strings.TrimPrefix(srv.URL, "http://"), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()

			ct, err := c.Container(ctx, "c1")
			if err != nil {
				t.Fatalf("Container: %v", err)
			}
			if ct.ID != "c1full" || ct.Name != "app1" || ct.Labels["name"] != "app1" || len(ct.Labels) != 2 {
				t.Errorf("Container = %+v", ct)
			}
			if got := f.lastPrefix.Load(); got != tc.wantPrefix {
				t.Errorf("asked under %v, want %s", got, tc.wantPrefix)
			}
			bare, err := c.Container(ctx, "nolabels")
			if err != nil || bare.Labels == nil || bare.Name != "bare" {
				t.Errorf("Container(nolabels) = %+v, %v; want empty non-nil labels", bare, err)
			}

			n, err := c.Network(ctx, "n1")
			if err != nil {
				t.Fatalf("Network: %v", err)
			}
			if n.Name != "nori-net" || n.Endpoints["e1"] != "c1full" || n.Endpoints["e2"] != "c2" {
				t.Errorf("Network = %+v", n)
			}

			if _, err := c.Container(ctx, "gone"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Container(gone) error = %v, want ErrNotFound", err)
			}
			if _, err := c.Container(ctx, "broken"); err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "boom") {
				t.Errorf("Container(broken) error = %v, want the daemon's message", err)
			}
			if got := f.versionCalls.Load(); got != 1 {
				t.Errorf("negotiated %d times, want once", got)
			}
		})
	}
}

func TestClientUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(&fakeDocker{daemonVersion: "1.41"})
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := New("unix://"+sock, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := c.APIVersion(context.Background()); err != nil || v != "1.41" {
		t.Fatalf("APIVersion = %q, %v", v, err)
	}
}

func TestNewRejects(t *testing.T) {
	for _, host := range []string{"ssh://x", "unix://", "::bad"} {
		if _, err := New(host, 0); err == nil {
			t.Errorf("New(%q) succeeded", host)
		}
	}
}

func TestUnreachable(t *testing.T) {
	c, err := New("unix://"+filepath.Join(t.TempDir(), "none.sock"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Container(context.Background(), "c1")
	if err == nil || !strings.Contains(err.Error(), "negotiate docker api version") {
		t.Fatalf("error = %v, want a negotiation failure", err)
	}
}
