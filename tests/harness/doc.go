// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package harness builds simulated hosts for Nori's end-to-end tests: network
// namespaces joined by a bridge in a "switch" namespace, each with its own
// nori-agent, containerd (for nerdctl) and Podman configuration, all removed
// again by t.Cleanup, also when a test fails.
//
// Everything needs root and the tools that scripts/install-test-deps.sh
// installs; a missing prerequisite fails the test (never skips it).
//
// Layout of one switch (rand is a 6-hex-digit suffix unique per switch):
//
//	netns nsw-<rand>                 bridge br0, one port p<N> per host
//	netns nh-<name>-<rand>           eth0 = 172.30.0.N/24, default route via
//	                                 172.30.0.254 (the world, when added)
//	/run/nori-test/<rand>/<name>/    per-host files:
//	    bpffs/                       a bpffs mounted in the host mount namespace
//	                                 (survives agent restarts, unlike one mounted
//	                                 under `ip netns exec`)
//	    state/  nori.sock  agent.log
//	    cni/net.d/10-nori.conflist   agentSocket points at nori.sock
//	    cni/bin/                     nori-cni, nori-ipam and the reference plugins
//	    containerd/  nerdctl/        StartContainerd, Nerdctl
//	    podman/                      Podman (containers.conf, storage.conf, storage)
//
// Runtimes and agents run under `nsenter --net=/run/netns/<host>`, never
// `ip netns exec`: the latter also makes a new mount namespace with its own
// /sys, where runc finds no cgroup mount and a bpffs dies with the process.
//
// API:
//
//	const BusyboxImage = "localhost/nori-busybox:latest"
//	func RepoRoot() string
//	func BinDir(t testing.TB) string           // $NORI_BIN_DIR or <repo>/bin; fails without nori binaries
//	func CacheDir() string                     // $NORI_CACHE_DIR or <repo>/.cache
//	func NerdctlPath(t testing.TB) string       // <cache>/bin/nerdctl, else $PATH
//	func Require(t testing.TB, tools ...string) // fails naming missing tools
//	func NewSwitch(t testing.TB) *Switch
//	func (s *Switch) AddHost(t testing.TB, name string) *Host
//	func (s *Switch) AddWorld(t testing.TB) *Host
//	func (s *Switch) Hosts() []*Host
//	func (h *Host) StartAgent(t testing.TB, extra ...string) *Agent
//	func (h *Host) AgentArgs() []string
//	func (a *Agent) PID() int
//	func (a *Agent) Kill(t testing.TB)
//	func (a *Agent) Stop(t testing.TB)
//	func (a *Agent) Log() string
//	func (h *Host) Client() *api.Client
//	func (h *Host) Exec(t testing.TB, name string, args ...string) (string, error)
//	func (h *Host) MustExec(t testing.TB, name string, args ...string) string
//	func (h *Host) StartContainerd(t testing.TB) *Containerd
//	func (h *Host) Nerdctl(t testing.TB, args ...string) (string, error)
//	func (h *Host) Podman(t testing.TB, args ...string) (string, error)
//	func LoadImage(t testing.TB, runtime string, h *Host) // "nerdctl" or "podman"
//
// Tools names Require knows beyond $PATH: "nerdctl" (the one built into the
// cache), "busybox-image" (the image archives), "nori-binaries" (BinDir).
package harness
