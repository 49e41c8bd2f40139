// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package labels

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/anypb"
)

// startContainerd runs Debian's containerd with its own root, state and
// socket under a temporary directory, CRI disabled, and stops it (by PID)
// when the test ends.
func startContainerd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Fatalf("containerd is required (apt-get install containerd): %v", err)
	}
	dir, err := os.MkdirTemp("", "nori-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "containerd.sock")
	conf := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc", filepath.Join(dir, "opt"))
	confPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", confPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		select {
		case <-done:
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("containerd exited early:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("containerd did not create %s in 20s:\n%s", sock, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestResolveNerdctlFromContainerd(t *testing.T) {
	sock := startContainerd(t)
	r := NewResolver(Config{ContainerdSocket: sock}, nil)
	t.Cleanup(func() { r.Close() })

	const ns = "nori-test"
	id := strings.Repeat("5e", 32)
	labels := map[string]string{
		"nerdctl/name":                   "web1",
		"nerdctl/networks":               `["nori"]`,
		"app":                            "web",
		"org.opencontainers.image.title": "busybox",
	}
	// A container record needs only an ID, a runtime name and a spec; no
	// image or snapshot is involved, as in nerdctl's metadata.
	cl, err := r.containerd.client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), containerdNamespaceHeader, ns)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err = cl.Create(cctx, &containersapi.CreateContainerRequest{Container: &containersapi.Container{
		ID:      id,
		Labels:  labels,
		Runtime: &containersapi.Container_Runtime{Name: "io.containerd.runc.v2"},
		Spec:    &anypb.Any{TypeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Spec", Value: []byte("{}")},
	}})
	if err != nil {
		t.Fatalf("create container record: %v", err)
	}

	tests := []struct {
		name    string
		req     Request
		want    Info
		wantErr bool
	}{
		{"found", Request{ContainerID: ns + "-" + id, Args: map[string]string{"IgnoreUnknown": "1"}},
			Info{Runtime: RuntimeNerdctl, Name: "web1", Labels: labels}, false},
		{"other namespace", Request{ContainerID: "default-" + id},
			Info{Runtime: RuntimeNerdctl}, true},
		{"missing", Request{ContainerID: ns + "-" + strings.Repeat("0", 64)},
			Info{Runtime: RuntimeNerdctl}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !r.Sync(tt.req) {
				t.Fatal("nerdctl resolution should be synchronous")
			}
			start := time.Now()
			got, err := r.Resolve(context.Background(), tt.req)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Resolve error = %v, wantErr %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Resolve = %+v, want %+v", got, tt.want)
			}
			if took := time.Since(start); took > time.Second {
				t.Fatalf("Resolve took %v, want well under a second", took)
			}
		})
	}
	if got, want := DefaultFilter().IdentityLabels(labels), []string{"container:app=web"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("identity labels = %q, want %q", got, want)
	}
}
