// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// agentReadyTimeout bounds how long StartAgent waits for /v1/healthz.
const agentReadyTimeout = 30 * time.Second

// Agent is a nori-agent process started by StartAgent.
type Agent struct {
	h *Host
	d *daemon
}

// AgentArgs returns the flags StartAgent passes before the test's extra ones
// (flags given later override earlier ones). StartAgent also sets
// CONTAINERS_CONF and CONTAINERS_STORAGE_CONF to the host's Podman files.
func (h *Host) AgentArgs() []string {
	return []string{
		"--node-name", h.Name,
		"--ipv4-node", h.Underlay.String(),
		"--state-dir", h.StateDir,
		"--socket", h.Socket,
		"--bpf-root", h.BPFRoot,
		"--kvstore", "embedded",
		"--kvstore-listen", "127.0.0.1:2379",
		// Where the agent reads nerdctl containers' labels: the host's own
		// containerd (StartContainerd), whether or not it runs yet.
		"--containerd-socket", h.containerdSocket(),
	}
}

// agentEnv lets the agent's `podman inspect` (Podman labels) see the host's
// Podman storage.
func (h *Host) agentEnv() []string {
	return append(os.Environ(), h.podman.vars...)
}

// StartAgent starts nori-agent in the host's netns with AgentArgs plus extra
// and waits until its API answers Healthz. Its output goes to <Dir>/agent.log
// (appended across restarts), printed when the test fails. t.Cleanup stops it.
// Starting a second agent while one runs fails the test.
func (h *Host) StartAgent(t testing.TB, extra ...string) *Agent {
	t.Helper()
	if h.StateDir == "" {
		t.Fatalf("host %s has no agent directories (the world cannot run an agent)", h.Name)
	}
	bin := filepath.Join(BinDir(t), "nori-agent")
	h.mu.Lock()
	if h.agent != nil && !h.agent.d.exited() {
		h.mu.Unlock()
		t.Fatalf("host %s: agent already running (pid %d)", h.Name, h.agent.PID())
	}
	h.mu.Unlock()

	logPath := filepath.Join(h.Dir, "agent.log")
	args := append(h.AgentArgs(), extra...)
	d, err := startDaemon(h.Netns, h.agentEnv(), logPath, bin, args...)
	if err != nil {
		t.Fatalf("host %s: %v", h.Name, err)
	}
	a := &Agent{h: h, d: d}
	h.mu.Lock()
	h.agent = a
	h.mu.Unlock()
	t.Cleanup(func() {
		a.d.stop(syscall.SIGTERM, 10*time.Second)
		if t.Failed() {
			t.Logf("host %s agent log (%s):\n%s", h.Name, logPath, readLog(logPath))
		}
	})
	if err := a.waitHealthy(agentReadyTimeout); err != nil {
		t.Fatalf("host %s: %v\nagent log:\n%s", h.Name, err, readLog(logPath))
	}
	return a
}

// waitHealthy polls Healthz until it succeeds, the agent exits, or timeout.
func (a *Agent) waitHealthy(timeout time.Duration) error {
	c := a.h.Client()
	c.Timeout = 2 * time.Second
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if a.d.exited() {
			return fmt.Errorf("nori-agent exited before it was healthy: %v", a.d.err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = c.Healthz(ctx)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nori-agent not healthy after %s: %v", timeout, last)
}

// PID returns the agent's process id (nsenter execs the agent in place).
func (a *Agent) PID() int { return a.d.pid() }

// Kill sends SIGKILL and waits for the process to be gone: the agent gets no
// chance to clean up, as in a crash. Pinned programs stay in BPFRoot.
func (a *Agent) Kill(t testing.TB) {
	t.Helper()
	a.d.stop(syscall.SIGKILL, 0)
}

// Stop sends SIGTERM and waits up to 10 s (then SIGKILL).
func (a *Agent) Stop(t testing.TB) {
	t.Helper()
	a.d.stop(syscall.SIGTERM, 10*time.Second)
}

// Exited reports whether the agent process has ended.
func (a *Agent) Exited() bool { return a.d.exited() }

// Log returns the agent's log so far.
func (a *Agent) Log() string { return readLog(a.d.log) }
