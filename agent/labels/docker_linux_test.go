// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package labels

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startDockerd runs Debian's dockerd (API 1.41) with its own data root,
// exec root, socket and pid file, no bridge and no iptables, and stops it
// by PID when the test ends.
func startDockerd(t *testing.T) (socket string) {
	t.Helper()
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		t.Fatalf("dockerd is required (apt-get install docker.io): %v", err)
	}
	dir, err := os.MkdirTemp("", "nori-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	socket = filepath.Join(dir, "docker.sock")
	conf := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(conf, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"), "-H", "unix://"+socket, "--config-file", conf,
		"--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dockerd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	fail := func(why string) {
		log, _ := os.ReadFile(logf.Name())
		t.Fatalf("dockerd %s:\n%s", why, log)
	}
	d := NewDockerClient(socket, time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			fail("exited early")
		default:
		}
		var v map[string]any
		if d.get(context.Background(), "/version", &v) == nil {
			return socket
		}
		if time.Now().After(deadline) {
			fail("did not answer in 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func docker(t *testing.T, socket string, stdin io.Reader, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", append([]string{"-H", "unix://" + socket}, args...)...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestResolveDockerReal(t *testing.T) {
	socket := startDockerd(t)
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox is required (apt-get install busybox-static): %v", err)
	}
	// An image from a one-binary rootfs, with image labels that Docker
	// merges into the container's.
	tar := exec.Command("tar", "-c", "--transform", "s,^.*busybox$,bin/busybox,", "-P", busybox)
	tarOut, err := tar.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tar.Start(); err != nil {
		t.Fatalf("tar: %v", err)
	}
	docker(t, socket, tarOut, "import", "--change", "LABEL maintainer=someone org.opencontainers.image.title=bb", "-", "nori-bb:test")
	tar.Wait()
	name := fmt.Sprintf("nori-labels-%d", os.Getpid())
	id := docker(t, socket, nil, "create", "--name", name, "--network", "none", "-l", "app=web", "nori-bb:test", "/bin/busybox", "true")
	t.Cleanup(func() { docker(t, socket, nil, "rm", "--force", name) })

	r := NewResolver(Config{DockerSocket: socket}, nil)
	req := Request{ContainerID: id, Runtime: RuntimeDocker}
	info, err := r.Resolve(context.Background(), req)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	want := Info{Runtime: RuntimeDocker, Name: name, Labels: map[string]string{
		"app": "web", "maintainer": "someone", "org.opencontainers.image.title": "bb"}}
	if !reflect.DeepEqual(info, want) {
		t.Fatalf("Resolve = %+v, want %+v", info, want)
	}
	if v, _ := r.docker.APIVersion(context.Background()); v != "1.41" {
		t.Fatalf("negotiated API %q, want Debian dockerd's 1.41", v)
	}
	if got, want := DefaultFilter().IdentityLabels(info.Labels), []string{"container:app=web"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("identity labels = %q, want %q", got, want)
	}
}
