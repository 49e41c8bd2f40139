// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package labels

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// podmanHost gives podman its own storage, run dir, file locks and
// containers.conf (runc, no network by default, CNI networks from
// <dir>/net.d with plugins in <dir>/cni) under a temporary directory, so
// the test shares nothing with other podman users of the machine.
func podmanHost(t *testing.T) (dir string, command, env []string) {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatalf("podman is required (apt-get install podman): %v", err)
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox is required (apt-get install busybox-static): %v", err)
	}
	dir, err = os.MkdirTemp("", "nori-podman-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	rootfs := filepath.Join(dir, "rootfs")
	for _, sub := range []string{filepath.Join(rootfs, "bin"), filepath.Join(dir, "net.d"), filepath.Join(dir, "cni")} {
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"true", "sleep"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", tool)); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf(`[containers]
netns = "none"
[network]
network_backend = "cni"
network_config_dir = %q
cni_plugin_dirs = [%q]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "none"
lock_type = "file"
tmp_dir = %q
`, filepath.Join(dir, "net.d"), filepath.Join(dir, "cni"), filepath.Join(dir, "tmp"))
	confPath := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	command = []string{"podman", "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"), "--storage-driver", "vfs"}
	return dir, command, []string{"CONTAINERS_CONF=" + confPath}
}

func runPodman(t *testing.T, command, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(command[0], append(append([]string{}, command[1:]...), args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestResolvePodman(t *testing.T) {
	dir, command, env := podmanHost(t)
	rootfs := filepath.Join(dir, "rootfs")
	name := fmt.Sprintf("nori-labels-%d", os.Getpid())
	id := runPodman(t, command, env, "create", "--name", name, "-l", "app=web", "-l", "tier=front",
		"-l", "io.podman.test=1", "--rootfs", rootfs, "true")
	t.Cleanup(func() { runPodman(t, command, env, "rm", "--force", name) })

	r := NewResolver(Config{PodmanCommand: command, PodmanEnv: env, RetryTimeout: 20 * time.Second}, nil)
	req := Request{ContainerID: id, Args: map[string]string{"IgnoreUnknown": "1", ArgPodName: name}}
	if r.Sync(req) {
		t.Fatal("podman resolution must not be synchronous")
	}
	if got := r.Immediate(req); got.Runtime != RuntimePodman || got.Name != name {
		t.Fatalf("Immediate = %+v, want podman %s", got, name)
	}
	info, err := r.Resolve(context.Background(), req)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	want := Info{Runtime: RuntimePodman, Name: name, Labels: map[string]string{"app": "web", "tier": "front", "io.podman.test": "1"}}
	if !reflect.DeepEqual(info, want) {
		t.Fatalf("Resolve = %+v, want %+v", info, want)
	}
	if got, want := DefaultFilter().IdentityLabels(info.Labels), []string{"container:app=web", "container:tier=front"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("identity labels = %q, want %q", got, want)
	}

	// A container that is gone fails at once instead of being retried.
	start := time.Now()
	_, err = r.Resolve(context.Background(), Request{ContainerID: strings.Repeat("0", 64), Args: map[string]string{ArgPodName: "x"}})
	if !errors.Is(err, errGone) {
		t.Fatalf("Resolve of a missing container: err = %v, want errGone", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Resolve of a missing container took %v, want one attempt", took)
	}
}

// TestResolvePodmanWaitsForADD shows why podman labels are resolved after
// ADD: a CNI plugin that takes 2 s stands in for nori-cni, and a Resolve
// started while ADD runs only succeeds once ADD is over, because podman
// holds the container lock meanwhile.
func TestResolvePodmanWaitsForADD(t *testing.T) {
	dir, command, env := podmanHost(t)
	conflist := `{"cniVersion":"0.4.0","name":"slow","plugins":[{"type":"nori-slow-cni"}]}`
	if err := os.WriteFile(filepath.Join(dir, "net.d", "slow.conflist"), []byte(conflist), 0o644); err != nil {
		t.Fatal(err)
	}
	plugin := fmt.Sprintf(`#!/bin/sh
case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"0.4.0","supportedVersions":["0.3.1","0.4.0"]}' ;;
ADD) touch %[1]s/add-start; sleep 2; touch %[1]s/add-end; echo '{"cniVersion":"0.4.0","ips":[],"dns":{}}' ;;
esac
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "cni", "nori-slow-cni"), []byte(plugin), 0o755); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("nori-labels-slow-%d", os.Getpid())
	id := runPodman(t, command, env, "create", "--name", name, "--network", "slow", "--ulimit", "nofile=1024:1024",
		"-l", "app=slow", "--rootfs", filepath.Join(dir, "rootfs"), "/bin/sleep", "30")
	t.Cleanup(func() { runPodman(t, command, env, "rm", "--force", "--time", "0", name) })

	// The start may fail after ADD (runc and rlimits in a sandbox); only
	// the network setup matters here.
	start := exec.Command(command[0], append(append([]string{}, command[1:]...), "start", name)...)
	start.Env = append(os.Environ(), env...)
	if err := start.Start(); err != nil {
		t.Fatalf("podman start: %v", err)
	}
	t.Cleanup(func() { start.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "add-start")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("podman did not call the CNI plugin within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := NewResolver(Config{PodmanCommand: command, PodmanEnv: env, RetryTimeout: 20 * time.Second}, nil)
	info, err := r.Resolve(context.Background(), Request{ContainerID: id, Args: map[string]string{ArgPodName: name}})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if info.Labels["app"] != "slow" || info.Name != name {
		t.Fatalf("Resolve = %+v, want name %s and app=slow", info, name)
	}
	if _, err := os.Stat(filepath.Join(dir, "add-end")); err != nil {
		t.Fatal("Resolve returned while ADD was still running; podman no longer holds the container lock during ADD")
	}
}
