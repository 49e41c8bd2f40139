// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/tests/harness"
)

// Policy test timing. A probe that expects a blocked port waits probeTimeout
// for a SYN-ACK that never comes; a probe of an open port answers in
// milliseconds. Policy changes are polled until policyDeadline, which is
// far above the 1 s the issue asks for: the measured time is logged, not
// asserted, because this VM is shared.
const (
	probeTimeout   = 700 * time.Millisecond
	fastProbe      = 200 * time.Millisecond
	policyDeadline = 10 * time.Second
)

// Ports every policy test container listens on (`nc -ll -p P -e cat`
// echoes); closedPort has no listener, so without policy it is refused.
const (
	port443    = 443
	port8080   = 8080
	closedPort = 9
	worldPort  = 8000
)

// peer is something a probe starts from or goes to: a container, a host's
// own namespace, the world.
type peer struct {
	name string // for messages: "app1@h1"
	ns   string // netns path to probe from
	ip   string
	host *harness.Host // nil for the world
	// Label value of name=..., and how the runtime names the container,
	// for containers only.
	label, ctrName, runtime string
}

func (p *peer) String() string { return p.name }

// policyEnv is the policy suite's world: three hosts on one etcd (h1
// nerdctl, h2 Podman, h3 where policies are imported), h4 with
// --enable-policy=always and h5 with --enable-policy=never (both Podman,
// same etcd), and the world namespace with an echo server.
type policyEnv struct {
	sw     *harness.Switch
	etcd   *harness.Etcd
	h      map[string]*harness.Host
	agents map[string]*harness.Agent
	world  *peer
	c      map[string]*peer // "app1@h1" ...
	// rev is the last policy revision an import printed.
	rev uint64
}

// listenCmd is the container's command: echo servers on 443 and 8080.
var listenCmd = []string{"sh", "-c", fmt.Sprintf("nc -ll -p %d -e cat & nc -ll -p %d -e cat & wait", port443, port8080)}

// newPolicyEnv builds the hosts and containers. Nothing is imported yet.
func newPolicyEnv(t *testing.T) *policyEnv {
	t.Helper()
	harness.Require(t, "nerdctl", "podman", "busybox-image", "nori-binaries", "etcd")
	start := time.Now()
	e := &policyEnv{sw: harness.NewSwitch(t), h: map[string]*harness.Host{}, agents: map[string]*harness.Agent{}, c: map[string]*peer{}}
	names := []string{"h1", "h2", "h3", "h4", "h5"}
	for _, n := range names {
		e.h[n] = e.sw.AddHost(t, n)
	}
	w := e.sw.AddWorld(t)
	e.world = &peer{name: "world", ns: w.Netns, ip: harness.WorldAddr.String()}
	ln, err := harness.ListenTCP(w.Netns, net.JoinHostPort(e.world.ip, strconv.Itoa(worldPort)))
	if err != nil {
		t.Fatalf("world echo server: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go harness.ServeEcho(ln)

	e.etcd = e.sw.StartEtcd(t)
	store := []string{"--kvstore", "etcd", "--kvstore-opt", "etcd.address=" + e.etcd.Address()}
	mode := map[string]string{"h4": "always", "h5": "never"}
	for _, n := range names {
		args := store
		if m := mode[n]; m != "" {
			args = append(append([]string{}, store...), "--enable-policy", m)
		}
		e.agents[n] = e.h[n].StartAgent(t, args...)
	}

	h1 := e.h["h1"]
	h1.StartContainerd(t)
	harness.LoadImage(t, "nerdctl", h1)
	for _, n := range []string{"h2", "h4", "h5"} {
		harness.LoadImage(t, "podman", e.h[n])
	}
	for _, c := range []struct{ host, runtime, label string }{
		{"h1", "nerdctl", "app1"}, {"h1", "nerdctl", "app2"}, {"h1", "nerdctl", "app3"},
		{"h2", "podman", "app1"}, {"h2", "podman", "app3"},
		{"h4", "podman", "app1"}, {"h4", "podman", "app2"},
		{"h5", "podman", "app2"}, {"h5", "podman", "app3"},
	} {
		e.runContainer(t, e.h[c.host], c.runtime, c.label)
	}
	e.waitIdentities(t)
	t.Logf("policy environment ready in %s: %d containers on %d hosts", time.Since(start).Round(100*time.Millisecond), len(e.c), len(names))
	return e
}

// runContainer starts one listener container labelled name=label.
func (e *policyEnv) runContainer(t *testing.T, h *harness.Host, runtime, label string) {
	t.Helper()
	name := label
	args := append([]string{"-l", "name=" + label, "-l", "suite=policy", harness.BusyboxImage}, listenCmd...)
	var pid string
	if runtime == "nerdctl" {
		h.MustNerdctl(t, append([]string{"run", "-d", "--name", name, "--net", "nori"}, args...)...)
		pid = strings.TrimSpace(h.MustNerdctl(t, "inspect", "-f", "{{.State.Pid}}", name))
	} else {
		h.MustPodman(t, append([]string{"run", "-d", "--name", name, "--network", "nori"}, args...)...)
		pid = strings.TrimSpace(h.MustPodman(t, "inspect", "-f", "{{.State.Pid}}", name))
	}
	p := &peer{
		name: label + "@" + h.Name, ns: "/proc/" + pid + "/ns/net", ip: containerIP(t, h, runtime, name),
		host: h, label: label, ctrName: name, runtime: runtime,
	}
	e.c[p.name] = p
}

// ctr returns the container "appN@hM".
func (e *policyEnv) ctr(t *testing.T, name string) *peer {
	t.Helper()
	p := e.c[name]
	if p == nil {
		t.Fatalf("no container %s in the policy environment", name)
	}
	return p
}

// hostPeer is a host's own network namespace as a probe source.
func (e *policyEnv) hostPeer(name string) *peer {
	h := e.h[name]
	return &peer{name: name + " (host netns)", ns: h.Netns, ip: h.Underlay.String(), host: h}
}

// agentsAlive fails the test when an agent process has ended: every later
// check would fail for that reason alone.
func (e *policyEnv) agentsAlive(t *testing.T) {
	t.Helper()
	for name, a := range e.agents {
		if a.Exited() {
			t.Fatalf("the agent on %s exited; its log:\n%s", name, a.Log())
		}
	}
}

// waitIdentities waits until every container's endpoint is ready with its
// labels resolved: before that, policy cannot select it.
func (e *policyEnv) waitIdentities(t *testing.T) {
	t.Helper()
	waitFor(t, 20*time.Second, "every policy container has its identity", func() error {
		for _, p := range e.c {
			ep, err := e.endpoint(t, p)
			if err != nil {
				return err
			}
			if ep.State != api.StateReady || ep.Identity < 256 {
				return fmt.Errorf("%s: state %s identity %d labels %v", p, ep.State, ep.Identity, ep.Labels)
			}
		}
		return nil
	})
}

// endpoint reads a container's endpoint from `nori endpoint list -o json`
// on its host.
func (e *policyEnv) endpoint(t *testing.T, p *peer) (api.Endpoint, error) {
	t.Helper()
	out, err := nori(t, p.host, nil, "endpoint", "list", "-o", "json")
	if err != nil {
		return api.Endpoint{}, fmt.Errorf("%w: %s", err, strings.TrimSpace(out))
	}
	var eps []api.Endpoint
	if err := json.Unmarshal([]byte(out), &eps); err != nil {
		return api.Endpoint{}, fmt.Errorf("decode endpoint list on %s: %w: %s", p.host.Name, err, out)
	}
	for _, ep := range eps {
		if ep.Name == p.ctrName || ep.IPv4 == p.ip || strings.HasPrefix(ep.IPv4, p.ip+"/") {
			return ep, nil
		}
	}
	return api.Endpoint{}, fmt.Errorf("no endpoint for %s (%s) on %s", p, p.ip, p.host.Name)
}

// mustEndpoint is endpoint that fails the test.
func (e *policyEnv) mustEndpoint(t *testing.T, p *peer) api.Endpoint {
	t.Helper()
	ep, err := e.endpoint(t, p)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// nori runs the CLI against h's agent with optional stdin and returns the
// combined output; the error carries the exit status.
func nori(t *testing.T, h *harness.Host, stdin []byte, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(harness.BinDir(t), "nori"), append([]string{"--socket", h.Socket}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("nori %s on %s: %w", strings.Join(args, " "), h.Name, err)
	}
	return string(out), nil
}

var revisionRE = regexp.MustCompile(`Revision:\s*(\d+)`)

// importPolicy runs `nori policy import FILE` (or `-` with the JSON on
// stdin when file is empty) on h and returns the revision it printed.
// Revisions must grow from one import to the next.
func (e *policyEnv) importPolicy(t *testing.T, h *harness.Host, file string, stdin []byte, extra ...string) uint64 {
	t.Helper()
	args := append([]string{"policy", "import"}, extra...)
	if file != "" {
		args = append(args, file)
	} else {
		args = append(args, "-")
	}
	out, err := nori(t, h, stdin, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	m := revisionRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("nori policy import printed no \"Revision: N\":\n%s", out)
	}
	rev, _ := strconv.ParseUint(m[1], 10, 64)
	if rev <= e.rev {
		t.Fatalf("import on %s gave revision %d, not above the previous %d", h.Name, rev, e.rev)
	}
	e.rev = rev
	return rev
}

// importJSON writes rules to a file in the test's temp dir and imports it.
func (e *policyEnv) importJSON(t *testing.T, h *harness.Host, rules string, extra ...string) uint64 {
	t.Helper()
	f := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(f, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	return e.importPolicy(t, h, f, nil, extra...)
}

// resetPolicy deletes every rule and waits until the cluster is open
// again: no endpoint of h1 or h2 enforces policy and the probes that the
// tests turn off pass again. Subtests register it with t.Cleanup, so a
// failed subtest leaves no rule behind for the next one.
func (e *policyEnv) resetPolicy(t *testing.T) {
	t.Helper()
	start := time.Now()
	if out, err := nori(t, e.h["h2"], nil, "policy", "delete", "--all"); err != nil {
		t.Errorf("%v\n%s", err, out)
		return
	}
	deadline := time.Now().Add(policyDeadline)
	for {
		err := e.openAgain(t)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("policy delete --all: cluster not open again after %s: %v", policyDeadline, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("policy delete --all: open again after %s", time.Since(start).Round(10*time.Millisecond))
}

// openAgain checks the no-policy state resetPolicy waits for.
func (e *policyEnv) openAgain(t *testing.T) error {
	for _, name := range []string{"app1@h1", "app2@h1", "app3@h1", "app1@h2", "app3@h2"} {
		p := e.c[name]
		ep, err := e.endpoint(t, p)
		if err != nil {
			return err
		}
		if ep.PolicyIngress || ep.PolicyEgress {
			return fmt.Errorf("%s still enforces policy (ingress %v, egress %v)", p, ep.PolicyIngress, ep.PolicyEgress)
		}
	}
	for _, r := range []reach{
		{"app3@h1", "app2@h1", port443, harness.Open}, {"app1@h1", "app2@h1", port8080, harness.Open},
		{"app1@h1", "app3@h1", port443, harness.Open}, {"app1@h2", "app2@h1", port8080, harness.Open},
	} {
		from, to := e.c[r.from], e.c[r.to]
		if got, err := harness.ProbeTCP(from.ns, hostPort(to.ip, r.port), probeTimeout); got != r.want {
			return fmt.Errorf("%s → %s:%d: %s (%v)", from, to, r.port, got, err)
		}
	}
	return nil
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

// expect polls a probe from → to:port until it gives want, within
// policyDeadline, and returns how long that took. Polling (instead of one
// probe) lets a fresh policy reach the agents; every probe is a new
// connection, so conntrack entries of earlier probes do not decide it.
func expect(t *testing.T, from, to *peer, port int, want harness.Reach) time.Duration {
	t.Helper()
	return expectWithin(t, from, to, port, want, policyDeadline, probeTimeout)
}

func expectWithin(t *testing.T, from, to *peer, port int, want harness.Reach, deadline, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var got harness.Reach
	var err error
	for time.Since(start) < deadline {
		// The time returned is when the first probe with the wanted
		// outcome was sent, not when its timeout (if blocked) ran out.
		sent := time.Since(start)
		got, err = harness.ProbeTCP(from.ns, hostPort(to.ip, port), timeout)
		if got == want {
			return sent
		}
		if got != harness.Blocked {
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Fatalf("%s → %s (%s:%d): want %s, still %s after %s (%v)", from, to, to.ip, port, want, got, deadline, err)
	return 0
}

// reach is one expected probe outcome of a table.
type reach struct {
	from, to string // container names, or "world" / "h1 (host)" via peers
	port     int
	want     harness.Reach
}

// check runs a table of expectations in order.
func (e *policyEnv) check(t *testing.T, table []reach) {
	t.Helper()
	for _, r := range table {
		expect(t, e.peer(t, r.from), e.peer(t, r.to), r.port, r.want)
	}
}

// peer resolves a name of a reach table: a container ("app1@h1"), "world",
// or a host's own namespace ("host@h1").
func (e *policyEnv) peer(t *testing.T, name string) *peer {
	t.Helper()
	if name == "world" {
		return e.world
	}
	if h, ok := strings.CutPrefix(name, "host@"); ok {
		return e.hostPeer(h)
	}
	return e.ctr(t, name)
}

// monitor is a running `nori monitor`, its NDJSON lines on a channel.
type monitor struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *bytes.Buffer
	done   chan struct{}
}

// startMonitor starts `nori monitor args...` against h's agent; t.Cleanup
// kills it by PID.
func startMonitor(t *testing.T, h *harness.Host, args ...string) *monitor {
	t.Helper()
	cmd := exec.Command(filepath.Join(harness.BinDir(t), "nori"), append([]string{"--socket", h.Socket, "monitor"}, args...)...)
	m := &monitor{cmd: cmd, lines: make(chan string, 1024), stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = m.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nori monitor: %v", err)
	}
	go func() {
		defer close(m.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			select {
			case m.lines <- sc.Text():
			default: // a test that stopped reading must not wedge the CLI
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-m.done
		_ = cmd.Wait()
	})
	return m
}

// exited reports whether the monitor's output ended (the CLI quit).
func (m *monitor) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// decodeEvent parses one NDJSON line of `nori monitor -o json`.
func decodeEvent(line string) (api.MonitorEvent, error) {
	var ev api.MonitorEvent
	err := json.Unmarshal([]byte(line), &ev)
	return ev, err
}

// examplePolicy is the path of a policy under conf/examples.
func examplePolicy(name string) string {
	return filepath.Join(harness.RepoRoot(), "conf", "examples", name)
}
