// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// NoriDockerSocket is where dockerd looks for the nori plugin. The path is
// fixed and shared by every dockerd on the machine, so one test at a time
// can run nori-docker.
const NoriDockerSocket = "/run/docker/plugins/nori.sock"

// NoriDocker is a nori-docker driver serving one simulated host's dockerd
// and agent.
type NoriDocker struct {
	StateDir string
	Log      string

	h *Host
	d *daemon
}

// StartNoriDocker starts nori-docker in the host's netns against its agent
// and dockerd (StartAgent and StartDockerd first) and waits for its
// socket. t.Cleanup stops it by PID and removes the socket.
func (h *Host) StartNoriDocker(t testing.TB) *NoriDocker {
	t.Helper()
	h.mu.Lock()
	dd := h.dockerd
	h.mu.Unlock()
	if dd == nil {
		t.Fatalf("host %s: StartNoriDocker needs StartDockerd first", h.Name)
	}
	if err := os.MkdirAll(filepath.Dir(NoriDockerSocket), 0o755); err != nil {
		t.Fatalf("create %s: %v", filepath.Dir(NoriDockerSocket), err)
	}
	if _, err := os.Stat(NoriDockerSocket); err == nil {
		t.Fatalf("%s exists: another nori-docker (or a test that did not clean up) holds it", NoriDockerSocket)
	}
	nd := &NoriDocker{StateDir: filepath.Join(h.Dir, "nori-docker"), Log: filepath.Join(h.Dir, "nori-docker.log"), h: h}
	d, err := startDaemon(h.Netns, nil, nd.Log, filepath.Join(BinDir(t), "nori-docker"),
		"--socket", NoriDockerSocket, "--agent-socket", h.Socket, "--docker-host", dd.Host,
		"--state-dir", nd.StateDir, "--log-level", "debug")
	if err != nil {
		t.Fatalf("host %s: start nori-docker: %v", h.Name, err)
	}
	nd.d = d
	t.Cleanup(func() { nd.Stop(t) })
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(NoriDockerSocket); err == nil {
			return nd
		}
		if d.exited() || time.Now().After(deadline) {
			t.Fatalf("host %s: nori-docker did not open %s:\n%s", h.Name, NoriDockerSocket, readLog(nd.Log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops nori-docker by PID (idempotent) and removes its socket.
func (nd *NoriDocker) Stop(t testing.TB) {
	t.Helper()
	nd.d.stop(syscall.SIGTERM, 10*time.Second)
	if err := os.Remove(NoriDockerSocket); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("remove %s: %v", NoriDockerSocket, err)
	}
	if t.Failed() {
		t.Logf("host %s nori-docker log:\n%s", nd.h.Name, readLog(nd.Log))
	}
}

// String names the driver for messages.
func (nd *NoriDocker) String() string { return fmt.Sprintf("nori-docker on %s", nd.h.Name) }
