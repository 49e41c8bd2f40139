// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Dockerd is a Docker daemon private to one simulated host, with its own
// data root, exec root (where it runs its own containerd) and socket.
type Dockerd struct {
	Dir  string // <host Dir>/docker
	Host string // unix://<Dir>/docker.sock, for DOCKER_HOST

	h *Host
	d *daemon
}

// StartDockerd starts dockerd in the host's netns without its default bridge
// or iptables rules (they would touch nothing outside the netns, but tests
// want only Nori's networking), and waits until it answers. t.Cleanup
// removes its containers and stops it and its containerd by PID.
//
// Note: dockerd finds network plugins in the fixed /run/docker/plugins, shared
// by every dockerd on the machine.
func (h *Host) StartDockerd(t testing.TB) *Dockerd {
	t.Helper()
	Require(t, "dockerd", "docker", "runc")
	h.mu.Lock()
	if h.dockerd != nil {
		h.mu.Unlock()
		t.Fatalf("host %s: dockerd already started", h.Name)
	}
	h.mu.Unlock()
	dir := filepath.Join(h.Dir, "docker")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create %s: %v", dir, err)
	}
	cfg := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o644); err != nil {
		t.Fatalf("write daemon.json: %v", err)
	}
	sock := filepath.Join(dir, "docker.sock")
	dd := &Dockerd{Dir: dir, Host: "unix://" + sock, h: h}
	dd.start(t)
	h.mu.Lock()
	h.dockerd = dd
	h.mu.Unlock()
	t.Cleanup(func() { dd.cleanup(t) })
	return dd
}

// start runs dockerd with the host's settings and waits until it answers.
func (dd *Dockerd) start(t testing.TB) {
	t.Helper()
	logPath := filepath.Join(dd.h.Dir, "dockerd.log")
	d, err := startDaemon(dd.h.Netns, nil, logPath, "dockerd",
		"--config-file", filepath.Join(dd.Dir, "daemon.json"),
		"--data-root", filepath.Join(dd.Dir, "data"),
		"--exec-root", dd.execRoot(),
		"--pidfile", filepath.Join(dd.Dir, "docker.pid"),
		"-H", dd.Host,
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
		"--default-ulimit", "nofile=1024:1024")
	if err != nil {
		t.Fatalf("host %s: %v", dd.h.Name, err)
	}
	dd.d = d
	if err := dd.waitReady(60 * time.Second); err != nil {
		t.Fatalf("host %s: %v\ndockerd log:\n%s", dd.h.Name, err, readLog(logPath))
	}
}

// execRoot is where dockerd runs its containerd and shims; their command
// lines name it (nori-docker's names only the socket, so it survives a
// reap of dockerd's leftovers).
func (dd *Dockerd) execRoot() string { return filepath.Join(dd.Dir, "exec") }

// Restart stops dockerd by PID (its containers stop with it: no
// live-restore) and starts it again on the same data root.
func (dd *Dockerd) Restart(t testing.TB) {
	t.Helper()
	dd.d.stop(syscall.SIGTERM, 15*time.Second)
	if killed, err := reapMatching(5*time.Second, dd.execRoot()); err != nil {
		t.Fatalf("host %s: stop dockerd: %v", dd.h.Name, err)
	} else if len(killed) > 0 {
		t.Logf("host %s: killed leftover docker processes %v", dd.h.Name, killed)
	}
	dd.start(t)
}

func (dd *Dockerd) waitReady(timeout time.Duration) error {
	sock := strings.TrimPrefix(dd.Host, "unix://")
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if dd.d.exited() {
			return fmt.Errorf("dockerd exited: %v", dd.d.err)
		}
		if conn, err := net.DialTimeout("unix", sock, time.Second); err == nil {
			conn.Close()
			if _, err := dd.h.runDocker(dd, "version"); err == nil {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("dockerd at %s not ready after %s", dd.Host, timeout)
}

// PID returns dockerd's process id.
func (dd *Dockerd) PID() int { return dd.d.pid() }

func (dd *Dockerd) cleanup(t testing.TB) {
	t.Helper()
	if !dd.d.exited() {
		if out, err := dd.h.runDocker(dd, "ps", "-aq"); err == nil {
			if ids := strings.Fields(out); len(ids) > 0 {
				if _, err := dd.h.runDocker(dd, append([]string{"rm", "-f"}, ids...)...); err != nil {
					t.Logf("host %s: remove docker containers: %v", dd.h.Name, err)
				}
			}
		}
	}
	dd.d.stop(syscall.SIGTERM, 15*time.Second)
	// dockerd's own containerd and its shims reference the exec root.
	killed, err := reapMatching(5*time.Second, dd.execRoot())
	if len(killed) > 0 {
		t.Logf("host %s: killed leftover docker processes %v", dd.h.Name, killed)
	}
	if err != nil {
		t.Errorf("host %s: %v", dd.h.Name, err)
	}
	if err := unmountAll(dd.Dir); err != nil {
		t.Errorf("host %s: clean dockerd: %v", dd.h.Name, err)
	}
	if t.Failed() {
		t.Logf("host %s dockerd log:\n%s", dd.h.Name, readLog(filepath.Join(dd.h.Dir, "dockerd.log")))
	}
	dd.h.mu.Lock()
	dd.h.dockerd = nil
	dd.h.mu.Unlock()
}

// Docker runs the docker CLI against the host's dockerd, in the host's netns,
// and returns its stdout (stderr goes into the error). StartDockerd first.
func (h *Host) Docker(t testing.TB, args ...string) (string, error) {
	t.Helper()
	h.mu.Lock()
	dd := h.dockerd
	h.mu.Unlock()
	if dd == nil {
		t.Fatalf("host %s: Docker needs StartDockerd first", h.Name)
	}
	return h.runDocker(dd, args...)
}

// MustDocker is Docker that fails the test on error.
func (h *Host) MustDocker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := h.Docker(t, args...)
	if err != nil {
		t.Fatalf("host %s: %v", h.Name, err)
	}
	return out
}

func (h *Host) runDocker(dd *Dockerd, args ...string) (string, error) {
	name, a := inNetns(h.Netns, "docker", append([]string{"--host", dd.Host}, args...)...)
	return runStdout(nil, name, a...)
}
