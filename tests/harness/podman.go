// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// podmanEnv is one host's Podman configuration: its own storage, so hosts
// never see each other's containers and cleanup can remove all of them.
type podmanEnv struct {
	dir     string
	removal bool     // container removal registered on the first Podman caller
	vars    []string // CONTAINERS_CONF=..., CONTAINERS_STORAGE_CONF=...
	env     []string // os.Environ() plus vars
}

// podmanConf makes Podman 4.3 use CNI with the host's directories, run runc
// (crun fails on this cgroup hybrid layout) with cgroupfs (no systemd), log
// events to a file (no journald) and keep container ulimits at or below the
// host's (CAP_SYS_RESOURCE is absent, so raising them fails).
const podmanConf = `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %[1]q
tmp_dir = %[2]q
static_dir = %[3]q
volume_path = %[4]q

[network]
network_backend = "cni"
cni_plugin_dirs = [%[5]q]
network_config_dir = %[6]q
`

const storageConf = `[storage]
driver = "overlay"
graphroot = %[1]q
runroot = %[2]q
`

// podmanSetup writes the host's Podman configuration when the host is made,
// because the agent needs it too (it runs `podman inspect` for labels).
func (h *Host) podmanSetup(t testing.TB) {
	t.Helper()
	dir := filepath.Join(h.Dir, "podman")
	storage := filepath.Join(dir, "storage")
	for _, d := range []string{dir, storage, filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("create %s: %v", d, err)
		}
	}
	conf := filepath.Join(dir, "containers.conf")
	sconf := filepath.Join(dir, "storage.conf")
	c := fmt.Sprintf(podmanConf, filepath.Join(dir, "events.log"), filepath.Join(dir, "tmp"),
		filepath.Join(storage, "libpod"), filepath.Join(storage, "volumes"), h.CNIBinDir, h.CNIConfDir)
	if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
		t.Fatalf("write containers.conf: %v", err)
	}
	if err := os.WriteFile(sconf, []byte(fmt.Sprintf(storageConf, storage, filepath.Join(dir, "run"))), 0o644); err != nil {
		t.Fatalf("write storage.conf: %v", err)
	}
	vars := []string{"CONTAINERS_CONF=" + conf, "CONTAINERS_STORAGE_CONF=" + sconf}
	p := &podmanEnv{dir: dir, vars: vars, env: append(os.Environ(), vars...)}
	h.podman = p
	t.Cleanup(func() { h.podmanCleanup(t, p) })
}

func (h *Host) podmanCleanup(t testing.TB, p *podmanEnv) {
	t.Helper()
	if !fileExists(filepath.Join(p.dir, "storage", "libpod")) {
		return // podman never ran here: nothing to remove
	}
	// rm runs CNI DEL for every container still attached.
	if _, err := h.runPodman(p, "rm", "--all", "--force", "--time", "0"); err != nil {
		t.Errorf("host %s: remove podman containers: %v", h.Name, err)
	}
	// conmon and the "podman container cleanup" it spawns finish CNI DEL
	// and unmounts after rm returns; give them time before killing.
	killed, err := reapMatching(10*time.Second, p.dir)
	if len(killed) > 0 {
		t.Logf("host %s: killed leftover podman processes %v", h.Name, killed)
	}
	if err != nil {
		t.Errorf("host %s: %v", h.Name, err)
	}
	if err := unmountAll(p.dir); err != nil {
		t.Errorf("host %s: clean podman: %v", h.Name, err)
	}
}

// Podman runs podman with the host's configuration (CNI backend, the host's
// CNI directories, its own storage) in the host's netns and returns the
// output (see the package documentation). The default network is "nori"
// only when named: `podman run --network nori ...`. The first call's t
// removes the host's containers when it ends.
func (h *Host) Podman(t testing.TB, args ...string) (string, error) {
	t.Helper()
	if h.podman == nil {
		t.Fatalf("host %s has no Podman configuration (the world cannot run containers)", h.Name)
	}
	Require(t, "podman", "runc", "conmon")
	h.mu.Lock()
	p := h.podman
	first := !p.removal
	p.removal = true
	h.mu.Unlock()
	if first {
		// Runs before the cleanup of an agent started earlier, so CNI DEL
		// still reaches it; the host-level cleanup is the safety net.
		t.Cleanup(func() {
			if _, err := h.runPodman(p, "rm", "--all", "--force", "--time", "0"); err != nil {
				t.Errorf("host %s: remove podman containers: %v", h.Name, err)
			}
		})
	}
	return h.runPodman(p, args...)
}

func (h *Host) runPodman(p *podmanEnv, args ...string) (string, error) {
	name, a := inNetns(h.Netns, "podman", args...)
	return runStdout(p.env, name, a...)
}

// MustPodman is Podman that fails the test on error.
func (h *Host) MustPodman(t testing.TB, args ...string) string {
	t.Helper()
	out, err := h.Podman(t, args...)
	if err != nil {
		t.Fatalf("host %s: %v", h.Name, err)
	}
	return out
}
