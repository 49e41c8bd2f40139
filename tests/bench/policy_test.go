// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/tests/harness"
)

// Policy benchmark (issue 4): the data path between two containers on one
// host with 0, 1, 1 000 and 10 000 rules selecting the server, beside a
// kernel-forwarded veth pair with 0, 1 000 and 10 000 iptables FORWARD
// rules (the anchor), then the time from importing rules on host 1 to
// enforcement on every host of a three-host cluster.
const (
	polIperfRounds = 4
	polRRRounds    = 10
	// polEnforceTimeout bounds waiting for imported rules to be enforced.
	polEnforceTimeout = 2 * time.Minute
	// polProbePort is a port nothing listens on: a probe there is refused
	// without policy and times out (blocked) once the rules are enforced.
	polProbePort = "5999"
	// crr: connect/request/response, a new flow (and policy lookup) per
	// transaction.
	crrPort      = "5203"
	crrCount     = 2000
	crrWarmup    = 100
	polCRRRounds = 8
)

// polPorts are the ports the one allowing rule opens to the client.
var polPorts = []int{atoi(iperfPort), atoi(rrPort), atoi(crrPort)}

// ruleCounts are the Nori variants; the anchor leaves out 1 (a single
// ACCEPT rule is its 0).
var (
	noriRuleCounts     = []int{0, 1, 1000, 10000}
	iptablesRuleCounts = []int{0, 1000, 10000}
)

// polVariant is a data path variant of this section and its rule count.
type polVariant struct {
	variant
	rules   int
	nori    bool
	entries int // policy map entries of the server (Nori)
}

// policy is the whole section.
func (b *bench) policy() {
	b.t.Helper()
	b.section("policy: setup (same host: one container pair per rule count, every set loaded at once; anchor: one bare veth pair per iptables rule count)")
	harness.Require(b.t, "nerdctl", "busybox-image", "iptables-restore")
	vs := b.policyNoriPairs()
	vs = append(vs, b.policyIptablesPairs()...)
	var rows [][]string
	for _, v := range vs {
		entries := "-"
		if v.nori {
			entries = fmt.Sprint(v.entries)
		}
		rows = append(rows, []string{v.name, fmt.Sprint(v.rules), entries, v.mtu, v.client + " -> " + v.server + " (" + v.serverIP + ")", v.desc})
	}
	fmt.Fprintln(b.out)
	table(b.out, []string{"variant", "rules", "server's policy map entries", "MTU", "client netns -> server netns (server IP)", "what"}, rows)
	plain := make([]variant, len(vs))
	for i, v := range vs {
		plain[i] = v.variant
	}
	res := make([]dpResult, len(vs))
	b.checkInterrupted()

	b.section(fmt.Sprintf("policy: TCP throughput, iperf3 single stream, %d s (+1 s omitted), %d rounds, variants rotated per round", iperfSeconds, polIperfRounds))
	fmt.Fprintf(b.out, "commands: as in the same-host section\n")
	b.iperfRounds(plain, res, polIperfRounds)
	b.policyThroughputTable(vs, res)

	b.section(fmt.Sprintf("policy: TCP request/response latency, rr 1-byte ping-pong, %d exchanges (+%d warm-up) per round, %d rounds rotated", rrCount, rrWarmup, polRRRounds))
	fmt.Fprintf(b.out, "commands: as in the same-host section\n")
	b.rrRounds(plain, res, polRRRounds)
	b.policyRRTable(vs, res)
	b.checkInterrupted()

	b.section(fmt.Sprintf("policy: TCP connect/request/response latency (like netperf TCP_CRR: a new connection, so a new flow and policy lookup, per transaction), %d transactions (+%d warm-up) per round, %d rounds rotated", crrCount, crrWarmup, polCRRRounds))
	fmt.Fprintf(b.out, "commands: %s\n          %s\n",
		inNetns("SERVER_NETNS", b.tool("rr"), "crr-server", "-port", crrPort).line(),
		inNetns("CLIENT_NETNS", b.crrClientArgv("SERVER_IP")...).line())
	crr := make([]dpResult, len(vs))
	b.crrRounds(vs, crr, polCRRRounds)
	b.policyCRRTable(vs, crr)
	b.checkInterrupted()

	b.policyPropagation()
}

// policyNoriPairs starts a client and a server container per rule count
// on the bench host (nerdctl, labelled, so that rules can select them),
// imports every rule set and waits until each is enforced.
func (b *bench) policyNoriPairs() []polVariant {
	b.t.Helper()
	h := b.host
	h.StartContainerd(b.t)
	harness.LoadImage(b.t, "nerdctl", h)
	var vs []polVariant
	for _, n := range noriRuleCounts {
		v := polVariant{rules: n, nori: true}
		v.name = "nori, " + rulesWord(n)
		v.desc = fmt.Sprintf("nerdctl containers via nori-cni; %s selecting the server", rulesWord(n))
		if n == 0 {
			v.desc = "nerdctl containers via nori-cni; no rule selects the server (not enforced)"
		}
		client := b.benchContainer(h, fmt.Sprintf("pclient-%d", n))
		server := b.benchContainer(h, fmt.Sprintf("pserver-%d", n))
		v.client, v.server, v.serverIP = client.ns, server.ns, server.ip
		v.mtu = b.mtuIn(v.client)
		vs = append(vs, v)
	}
	b.waitReady(h, vs)
	for i, n := range noriRuleCounts {
		if n == 0 {
			continue
		}
		s := ruleSet{n: n, server: fmt.Sprintf("pserver-%d", n), client: fmt.Sprintf("pclient-%d", n),
			allowPorts: polPorts, label: fmt.Sprintf("same-host-%d", n)}
		took, out := b.importRules(h, s.JSON())
		fmt.Fprintf(b.out, "imported %s for %s in %s: %s\n", rulesWord(n), vs[i].name, took.Round(time.Millisecond), strings.TrimSpace(out))
	}
	// Enforced: the probe port is blocked (no answer) for every server
	// with rules and refused (RST from the server's stack) for the other.
	start := time.Now()
	for _, v := range vs {
		want := harness.Blocked
		if v.rules == 0 {
			want = harness.Refused
		}
		b.waitReach(v.client, v.serverIP+":"+polProbePort, want, polEnforceTimeout)
		for _, port := range []string{iperfPort, rrPort, crrPort} {
			// Allowed ports: nothing listens between rounds, so refused.
			b.waitReach(v.client, v.serverIP+":"+port, harness.Refused, polEnforceTimeout)
		}
	}
	fmt.Fprintf(b.out, "every rule set enforced (probe port %s blocked, benchmark ports allowed) %s after the last import returned\n", polProbePort, time.Since(start).Round(10*time.Millisecond))
	for i := range vs {
		vs[i].entries = b.policyEntries(h, vs[i].serverIP)
	}
	return vs
}

// benchCtr is a container the benchmark runs tools in (nsenter --net).
type benchCtr struct{ name, ns, ip string }

// benchContainer runs a sleeping nerdctl container labelled name=NAME.
func (b *bench) benchContainer(h *harness.Host, name string) benchCtr {
	b.t.Helper()
	h.MustNerdctl(b.t, "run", "-d", "--name", name, "--net", "nori", "-l", "name="+name, harness.BusyboxImage, "sleep", "1000000")
	pid := strings.TrimSpace(h.MustNerdctl(b.t, "inspect", "-f", "{{.State.Pid}}", name))
	ip := strings.TrimSpace(h.MustNerdctl(b.t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name))
	if pid == "" || pid == "0" || ip == "" {
		b.t.Fatalf("container %s: pid %q ip %q", name, pid, ip)
	}
	return benchCtr{name: name, ns: "/proc/" + pid + "/ns/net", ip: ip}
}

// benchPodman is benchContainer for Podman, with a command.
func (b *bench) benchPodman(h *harness.Host, name string, cmd ...string) benchCtr {
	b.t.Helper()
	h.MustPodman(b.t, append([]string{"run", "-d", "--name", name, "--network", "nori", "-l", "name=" + name, harness.BusyboxImage}, cmd...)...)
	pid := strings.TrimSpace(h.MustPodman(b.t, "inspect", "-f", "{{.State.Pid}}", name))
	ip := strings.TrimSpace(h.MustPodman(b.t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name))
	if pid == "" || pid == "0" || ip == "" {
		b.t.Fatalf("container %s: pid %q ip %q", name, pid, ip)
	}
	return benchCtr{name: name, ns: "/proc/" + pid + "/ns/net", ip: ip}
}

// waitReady waits until the agent has resolved the labels of every
// variant's containers (an endpoint without its identity cannot be
// selected).
func (b *bench) waitReady(h *harness.Host, vs []polVariant) {
	b.t.Helper()
	var ips []string
	for _, v := range vs {
		ips = append(ips, v.serverIP)
	}
	b.waitIdentities(h, ips, 30*time.Second)
}

// waitIdentities waits until the endpoints with these addresses on h are
// ready with a label identity.
func (b *bench) waitIdentities(h *harness.Host, ips []string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b.checkInterrupted()
		eps, err := h.Client().Endpoints(b.ctx)
		missing := ""
		if err != nil {
			missing = err.Error()
		}
		for _, ip := range ips {
			ep := endpointByIP(eps, ip)
			if ep == nil || ep.State != api.StateReady || ep.Identity < 256 {
				missing = fmt.Sprintf("%s: %+v", ip, ep)
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("host %s: endpoints not ready with identities after %s: %s", h.Name, timeout, missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func endpointByIP(eps []api.Endpoint, ip string) *api.Endpoint {
	for i := range eps {
		if eps[i].IPv4 == ip || strings.HasPrefix(eps[i].IPv4, ip+"/") {
			return &eps[i]
		}
	}
	return nil
}

// policyEntries counts the policy map entries of the endpoint with ip.
func (b *bench) policyEntries(h *harness.Host, ip string) int {
	b.t.Helper()
	eps, err := h.Client().Endpoints(b.ctx)
	if err != nil {
		b.t.Fatalf("list endpoints: %v", err)
	}
	ep := endpointByIP(eps, ip)
	if ep == nil {
		b.t.Fatalf("no endpoint %s on %s", ip, h.Name)
	}
	c := h.Client()
	c.Timeout = time.Minute
	es, err := c.BPFPolicy(b.ctx, ep.ID)
	if err != nil {
		b.t.Fatalf("bpf policy list %d: %v", ep.ID, err)
	}
	return len(es)
}

// importRules runs `nori policy import` with the rules in a file and
// returns how long the CLI took and what it printed.
func (b *bench) importRules(h *harness.Host, rules []byte, extra ...string) (time.Duration, string) {
	b.t.Helper()
	f, err := os.CreateTemp(b.tools, "rules-*.json")
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := f.Write(rules); err != nil {
		b.t.Fatal(err)
	}
	f.Close()
	return b.noriTimed(h, append([]string{"policy", "import", f.Name()}, extra...)...)
}

// noriTimed runs the CLI against h's agent and times it.
func (b *bench) noriTimed(h *harness.Host, args ...string) (time.Duration, string) {
	b.t.Helper()
	start := time.Now()
	out, err := inNetns("", append([]string{filepath.Join(harness.BinDir(b.t), "nori"), "--socket", h.Socket}, args...)...).output(b.ctx)
	took := time.Since(start)
	if err != nil {
		b.t.Fatalf("nori %s: %v", strings.Join(args, " "), err)
	}
	return took, string(out)
}

// waitReach probes addr from netns until the outcome is want.
func (b *bench) waitReach(ns, addr string, want harness.Reach, timeout time.Duration) time.Duration {
	b.t.Helper()
	start := time.Now()
	for {
		b.checkInterrupted()
		got, err := harness.ProbeTCP(ns, addr, 300*time.Millisecond)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			b.t.Fatalf("%s from %s: want %s, still %s after %s (%v)", addr, ns, want, got, timeout, err)
		}
		if got != harness.Blocked {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// mtuIn reads eth0's MTU inside a netns given by path (not from /sys,
// which shows the root netns's devices under nsenter --net).
func (b *bench) mtuIn(ns string) string {
	b.t.Helper()
	out := inNetns(ns, "ip", "-j", "link", "show", "dev", "eth0").mustOutput(b)
	var links []ipLink
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		b.t.Fatalf("parse ip link of eth0 in %s: %v: %s", ns, err, out)
	}
	return fmt.Sprint(links[0].MTU)
}

// policyThroughputTable prints iperf3 results with each variant against
// the 0-rule variant of its kind.
func (b *bench) policyThroughputTable(vs []polVariant, res []dpResult) {
	base := func(v polVariant) int { return baseIndex(vs, v.nori) }
	var rows [][]string
	for i, v := range vs {
		var rounds []string
		for _, g := range res[i].gbps {
			rounds = append(rounds, fmt.Sprintf("%.2f", g))
		}
		bi := base(v)
		rows = append(rows, []string{v.name, strings.Join(rounds, " "), fmt.Sprintf("%.2f", median(res[i].gbps)),
			ratio(median(res[i].gbps), median(res[bi].gbps)), fmt.Sprintf("%.2f×", pairedRatio(res[i].gbps, res[bi].gbps))})
	}
	fmt.Fprintln(b.out)
	table(b.out, []string{"variant", "Gbit/s per round", "median", "median vs 0 rules", "per-round ratio vs 0 rules (median)"}, rows)
	n0, n10k := indexOf(vs, true, 0), indexOf(vs, true, 10000)
	i0, i10k := indexOf(vs, false, 0), indexOf(vs, false, 10000)
	fmt.Fprintf(b.out, "10 000 rules vs 0: Nori %s (%.2f vs %.2f Gbit/s), iptables %s (%.2f vs %.2f Gbit/s)\n",
		ratio(median(res[n10k].gbps), median(res[n0].gbps)), median(res[n10k].gbps), median(res[n0].gbps),
		ratio(median(res[i10k].gbps), median(res[i0].gbps)), median(res[i10k].gbps), median(res[i0].gbps))
}

// policyRRTable prints RR latency with each variant against the 0-rule
// variant of its kind, and the target for Nori.
func (b *bench) policyRRTable(vs []polVariant, res []dpResult) {
	b.latencyTable(vs, res, "exchanges")
	p50 := func(i int) float64 { return float64(percentile(res[i].rtts, 50)) }
	n0, n1, n10k := indexOf(vs, true, 0), indexOf(vs, true, 1), indexOf(vs, true, 10000)
	i0, i10k := indexOf(vs, false, 0), indexOf(vs, false, 10000)
	fmt.Fprintf(b.out, "10 000 rules vs 0 (p50): Nori %s (%s vs %s; per-round %.2f×; vs 1 rule %s), iptables %s (%s vs %s)\n",
		ratio(p50(n10k), p50(n0)), dur(int64(p50(n10k))), dur(int64(p50(n0))), pairedP50Ratio(res[n10k], res[n0]), ratio(p50(n10k), p50(n1)),
		ratio(p50(i10k), p50(i0)), dur(int64(p50(i10k))), dur(int64(p50(i0))))
	fmt.Fprintf(b.out, "target: Nori RR latency (p50) with 10 000 rules within 5%% of 0 rules: %s (%s pooled; %.2f× median of per-round ratios)\n",
		verdict(p50(n10k) <= 1.05*p50(n0)), ratio(p50(n10k), p50(n0)), pairedP50Ratio(res[n10k], res[n0]))
}

// baseIndex is the 0-rule variant of Nori or of the anchor.
func baseIndex(vs []polVariant, nori bool) int { return indexOf(vs, nori, 0) }

func indexOf(vs []polVariant, nori bool, rules int) int {
	i := slices.IndexFunc(vs, func(v polVariant) bool { return v.nori == nori && v.rules == rules })
	if i < 0 {
		panic(fmt.Sprintf("no variant nori=%v rules=%d", nori, rules))
	}
	return i
}

// rulesWord is "1 rule", "10 000 rules".
func rulesWord(n int) string {
	if n == 1 {
		return "1 rule"
	}
	return thousands(n) + " rules"
}

// thousands prints 10000 as "10 000", as the issue writes it.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + " " + s[i:]
	}
	return s
}

func atoi(s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		panic(fmt.Sprintf("parse %q: %v", s, err))
	}
	return n
}
