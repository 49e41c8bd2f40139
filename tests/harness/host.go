// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nori-net/nori/agent/api"
	"golang.org/x/sys/unix"
)

// Host is one simulated host: a network namespace on the switch, with the
// paths its agent and runtimes use. Paths are empty for the world.
type Host struct {
	Name      string     // as given to AddHost ("world" for AddWorld)
	NetnsName string     // nh-<name>-<rand>
	Netns     string     // /run/netns/<NetnsName>
	Underlay  netip.Addr // 172.30.0.N on eth0
	Dir       string     // /run/nori-test/<rand>/<name>

	BPFRoot    string // bpffs mount for --bpf-root
	StateDir   string // --state-dir
	Socket     string // --socket
	CNIConfDir string // holds 10-nori.conflist
	CNIBinDir  string // nori-cni, nori-ipam and the reference plugins

	sw *Switch

	mu         sync.Mutex
	agent      *Agent
	containerd *Containerd
	dockerd    *Dockerd
	podman     *podmanEnv
}

// setupAgentDirs creates what an agent host needs besides its netns.
func (h *Host) setupAgentDirs(t testing.TB) {
	t.Helper()
	h.BPFRoot = filepath.Join(h.Dir, "bpffs")
	h.StateDir = filepath.Join(h.Dir, "state")
	h.Socket = filepath.Join(h.Dir, "nori.sock")
	h.CNIConfDir = filepath.Join(h.Dir, "cni", "net.d")
	h.CNIBinDir = filepath.Join(h.Dir, "cni", "bin")
	for _, d := range []string{h.BPFRoot, h.StateDir, h.CNIConfDir, h.CNIBinDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("create %s: %v", d, err)
		}
	}
	// Mounted in the root mount namespace, where every nsenter'd process
	// sees it and pins survive the agent (research/spike.md §8).
	if err := unix.Mount("bpf", h.BPFRoot, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mount bpffs at %s: %v", h.BPFRoot, err)
	}
	if err := linkCNIPlugins(h.CNIBinDir); err != nil {
		t.Fatal(err)
	}
	if err := writeNoriConflist(h.CNIConfDir, h.Socket); err != nil {
		t.Fatal(err)
	}
	h.podmanSetup(t)
}

// cleanup runs after the agent's and runtimes' own cleanups (registered
// later, so run earlier) and removes whatever is left of the host.
func (h *Host) cleanup(t testing.TB) {
	t.Helper()
	h.mu.Lock()
	a := h.agent
	h.mu.Unlock()
	if a != nil {
		a.d.stop(unix.SIGKILL, 0)
	}
	// Anything still running in the namespace was started by this test
	// (a daemon whose cleanup was skipped, a backgrounded Exec).
	if out, err := run(nil, "ip", "netns", "pids", h.NetnsName); err == nil {
		var pids []int
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		if len(pids) > 0 {
			t.Logf("host %s: killing leftover processes %v", h.Name, pids)
			if err := killPIDs(pids); err != nil {
				t.Errorf("host %s: %v", h.Name, err)
			}
		}
	}
	if _, err := run(nil, "ip", "netns", "del", h.NetnsName); err != nil && fileExists(h.Netns) {
		t.Errorf("delete netns of host %s: %v", h.Name, err)
	}
	if err := unmountAll(h.Dir); err != nil {
		t.Errorf("clean host %s: %v", h.Name, err)
	}
}

// Client returns an API client for the host's agent socket.
func (h *Host) Client() *api.Client { return api.NewClient(h.Socket) }

// Exec runs name args in the host's network namespace (root mount namespace,
// via nsenter) and returns the combined output.
func (h *Host) Exec(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	n, a := inNetns(h.Netns, name, args...)
	return run(nil, n, a...)
}

// MustExec is Exec that fails the test on error.
func (h *Host) MustExec(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := h.Exec(t, name, args...)
	if err != nil {
		t.Fatalf("host %s: %v", h.Name, err)
	}
	return out
}

// String names the host in test output.
func (h *Host) String() string { return fmt.Sprintf("%s(%s)", h.Name, h.Underlay) }
