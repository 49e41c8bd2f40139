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
//	    containerd/  nerdctl/        StartContainerd, Nerdctl (the agent gets
//	                                 --containerd-socket for nerdctl labels)
//	    podman/                      Podman: containers.conf, storage.conf and
//	                                 storage; the agent gets CONTAINERS_CONF and
//	                                 CONTAINERS_STORAGE_CONF for Podman labels
//	    docker/                      StartDockerd, Docker
//
// Runtimes and agents run under `nsenter --net=/run/netns/<host>`, never
// `ip netns exec`: the latter also makes a new mount namespace with its own
// /sys, where runc finds no cgroup mount and a bpffs dies with the process.
//
// API:
//
//	const BusyboxImage = "localhost/nori-busybox:latest"
//	const NerdctlNamespace = "nori-test"
//	const ConflistName = "10-nori.conflist"
//	var UnderlayPrefix = 172.30.0.0/24; var WorldAddr = 172.30.0.254
//	func RepoRoot() string
//	func BinDir(t testing.TB) string            // $NORI_BIN_DIR or <repo>/bin; fails without nori binaries
//	func CacheDir() string                      // $NORI_CACHE_DIR or <repo>/.cache
//	func NerdctlPath(t testing.TB) string        // <cache>/bin/nerdctl, else $PATH
//	func Require(t testing.TB, tools ...string)  // fails naming missing tools
//	func NewSwitch(t testing.TB) *Switch
//	func (s *Switch) AddHost(t testing.TB, name string) *Host
//	func (s *Switch) AddWorld(t testing.TB) *Host
//	func (s *Switch) Hosts() []*Host
//	func (h *Host) StartAgent(t testing.TB, extra ...string) *Agent
//	func (h *Host) AgentArgs() []string
//	func (a *Agent) PID() int
//	func (a *Agent) Kill(t testing.TB)           // SIGKILL, waits
//	func (a *Agent) Stop(t testing.TB)           // SIGTERM, waits ≤10 s, then SIGKILL
//
// Probes from inside a namespace (netprobe.go; threads go back to the
// root netns afterwards):
//
//	func ProbeTCP(nsPath, addr string, timeout time.Duration) (Reach, error) // open, refused, blocked ...
//	func DialTCP(nsPath, addr string, timeout time.Duration) (net.Conn, error)
//	func ListenTCP(nsPath, addr string) (net.Listener, error)
//	func ServeEcho(ln net.Listener)
//	func (a *Agent) Exited() bool
//	func (a *Agent) Log() string
//	func (h *Host) Client() *api.Client
//	func (h *Host) Exec(t testing.TB, name string, args ...string) (string, error)
//	func (h *Host) MustExec(t testing.TB, name string, args ...string) string
//	func (h *Host) WriteConflist(t testing.TB, name, conflist string) string
//	func (h *Host) StartContainerd(t testing.TB) *Containerd
//	func (h *Host) Nerdctl(t testing.TB, args ...string) (string, error)
//	func (h *Host) MustNerdctl(t testing.TB, args ...string) string
//	func (h *Host) Podman(t testing.TB, args ...string) (string, error)
//	func (h *Host) MustPodman(t testing.TB, args ...string) string
//	func (h *Host) StartDockerd(t testing.TB) *Dockerd
//	func (h *Host) Docker(t testing.TB, args ...string) (string, error)
//	func (h *Host) MustDocker(t testing.TB, args ...string) string
//	func LoadImage(t testing.TB, runtime string, h *Host) // "nerdctl", "podman" or "docker"
//
// Cleanups belong to the t passed to the call that started something: a
// containerd started in a subtest stops when that subtest ends; Podman's
// containers go when the t of the first Podman call ends. Start the agent
// before the runtimes, so their cleanups (which run CNI DEL) come first. Exec returns
// combined stdout and stderr; Nerdctl, Podman and Docker return stdout only
// and put stderr into the error, because the runtimes print benign noise on
// stderr (nerdctl: "forward signal child exited"; Podman: warnings about
// conflists whose plugins are missing). A switch whose test process died without cleaning up
// (a -timeout panic, SIGKILL) is removed by the next NewSwitch.
//
// Tools names Require knows beyond $PATH: "nerdctl" (the one built into the
// cache), "busybox-image" (the image archives), "nori-binaries" (BinDir).
package harness
