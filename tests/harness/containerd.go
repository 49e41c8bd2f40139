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

// NerdctlNamespace is the containerd namespace Nerdctl uses.
const NerdctlNamespace = "nori-test"

// Containerd is a containerd daemon private to one simulated host. It runs in
// the host's netns because nerdctl runs CNI from an OCI createRuntime hook,
// which runc starts in the shim's (= containerd's) namespaces.
type Containerd struct {
	Dir      string // <host Dir>/containerd
	Address  string // gRPC socket
	Config   string // config.toml
	DataRoot string // nerdctl --data-root

	h *Host
	d *daemon
}

// containerdConfig keeps every path of this instance apart from the
// system's containerd and from other hosts', and turns off CRI, which would
// read /etc/cni/net.d and is not what nerdctl uses.
const containerdConfig = `version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[debug]
  address = %[5]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[6]q
`

// containerdSocket is fixed per host so the agent can be told about it before
// containerd starts.
func (h *Host) containerdSocket() string {
	return filepath.Join(h.Dir, "containerd", "containerd.sock")
}

// StartContainerd starts a containerd for the host and waits until its
// socket accepts connections. t.Cleanup removes its containers, stops it by
// PID, kills shims it left and unmounts everything under its directory.
func (h *Host) StartContainerd(t testing.TB) *Containerd {
	t.Helper()
	Require(t, "containerd", "containerd-shim-runc-v2", "runc", "nerdctl")
	h.mu.Lock()
	if h.containerd != nil {
		h.mu.Unlock()
		t.Fatalf("host %s: containerd already started", h.Name)
	}
	h.mu.Unlock()
	dir := filepath.Join(h.Dir, "containerd")
	c := &Containerd{
		Dir:      dir,
		Address:  h.containerdSocket(),
		Config:   filepath.Join(dir, "config.toml"),
		DataRoot: filepath.Join(h.Dir, "nerdctl"),
		h:        h,
	}
	for _, d := range []string{dir, c.DataRoot} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("create %s: %v", d, err)
		}
	}
	cfg := fmt.Sprintf(containerdConfig, filepath.Join(dir, "root"), filepath.Join(dir, "state"),
		c.Address, c.Address+".ttrpc", filepath.Join(dir, "debug.sock"), filepath.Join(dir, "opt"))
	if err := os.WriteFile(c.Config, []byte(cfg), 0o644); err != nil {
		t.Fatalf("write containerd config: %v", err)
	}
	logPath := filepath.Join(h.Dir, "containerd.log")
	d, err := startDaemon(h.Netns, nil, logPath, "containerd", "--config", c.Config)
	if err != nil {
		t.Fatalf("host %s: %v", h.Name, err)
	}
	c.d = d
	h.mu.Lock()
	h.containerd = c
	h.mu.Unlock()
	t.Cleanup(func() { c.cleanup(t) })
	if err := c.waitReady(30 * time.Second); err != nil {
		t.Fatalf("host %s: %v\ncontainerd log:\n%s", h.Name, err, readLog(logPath))
	}
	return c
}

func (c *Containerd) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c.d.exited() {
			return fmt.Errorf("containerd exited: %v", c.d.err)
		}
		if conn, err := net.DialTimeout("unix", c.Address, time.Second); err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("containerd socket %s not ready after %s", c.Address, timeout)
}

// PID returns containerd's process id.
func (c *Containerd) PID() int { return c.d.pid() }

func (c *Containerd) cleanup(t testing.TB) {
	t.Helper()
	if !c.d.exited() {
		// Removing containers through nerdctl runs their postStop hooks,
		// so CNI DEL happens and the network plugins release addresses.
		if out, err := c.h.Nerdctl(t, "ps", "-aq"); err == nil {
			if ids := strings.Fields(out); len(ids) > 0 {
				if _, err := c.h.Nerdctl(t, append([]string{"rm", "-f"}, ids...)...); err != nil {
					t.Logf("host %s: remove containers: %v", c.h.Name, err)
				}
			}
		}
	}
	c.d.stop(syscall.SIGTERM, 10*time.Second)
	// Shims outlive containerd by design; they are ours when they serve
	// this instance's address.
	killed, err := reapMatching(5*time.Second, "containerd-shim", c.Address)
	if len(killed) > 0 {
		t.Logf("host %s: killed leftover shims %v", c.h.Name, killed)
	}
	if err != nil {
		t.Errorf("host %s: %v", c.h.Name, err)
	}
	removeFIFOs(readLog(filepath.Join(c.h.Dir, "containerd.log")))
	if err := unmountAll(c.Dir); err != nil {
		t.Errorf("host %s: clean containerd: %v", c.h.Name, err)
	}
	if err := unmountAll(c.DataRoot); err != nil {
		t.Errorf("host %s: clean nerdctl data root: %v", c.h.Name, err)
	}
	if t.Failed() {
		t.Logf("host %s containerd log:\n%s", c.h.Name, readLog(filepath.Join(c.h.Dir, "containerd.log")))
	}
	c.h.mu.Lock()
	c.h.containerd = nil
	c.h.mu.Unlock()
}

// Nerdctl runs nerdctl against the host's containerd, in the host's netns,
// with the host's CNI directories (the default network is "nori"), and
// returns its stdout (stderr goes into the error). StartContainerd first.
func (h *Host) Nerdctl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	h.mu.Lock()
	c := h.containerd
	h.mu.Unlock()
	if c == nil {
		t.Fatalf("host %s: Nerdctl needs StartContainerd first", h.Name)
	}
	full := append([]string{
		"--address", c.Address,
		"--namespace", NerdctlNamespace,
		"--data-root", c.DataRoot,
		"--cni-path", h.CNIBinDir,
		"--cni-netconfpath", h.CNIConfDir,
	}, args...)
	name, a := inNetns(h.Netns, nerdctlPath(), full...)
	return runStdout(nil, name, a...)
}

// MustNerdctl is Nerdctl that fails the test on error.
func (h *Host) MustNerdctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := h.Nerdctl(t, args...)
	if err != nil {
		t.Fatalf("host %s: %v", h.Name, err)
	}
	return out
}
