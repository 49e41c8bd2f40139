// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nori-net/nori/tests/harness"
)

// Policy propagation: rules imported on host 1 until enforced on every
// host of a three-host cluster sharing one etcd.
const (
	propServerPort = "7001" // the server's echo port, opened by the last rule
	propBasePort   = 7000   // what the baseline rule allows instead
	// propProbeTimeout is how long a probe waits for a SYN-ACK; a
	// blocked port costs this much per probe, so it is the resolution of
	// "until open". Local SYN-ACKs take well under a millisecond.
	propProbeTimeout = 100 * time.Millisecond
)

var propRuleCounts = []int{1000, 10000}

// propHost is one host of the propagation cluster and its two containers.
type propHost struct {
	h              *harness.Host
	client, server benchCtr
}

// policyPropagation starts the cluster and, per rule count, times an
// import on h1 until every host lets its client reach its server.
//
// Before each import only a baseline rule selects the servers (the client
// may reach port 7000, so 7001 is blocked); the imported file holds n-1
// filler rules for the servers and, last, the rule that opens 7001. Each
// host enforces its own server's ingress, so a host counts as done when
// its local client connects to 7001 and gets its echo back.
func (b *bench) policyPropagation() {
	b.t.Helper()
	b.section("policy propagation: setup (a new switch, 3 Nori hosts sharing one etcd, Podman containers)")
	harness.Require(b.t, "podman", "etcd")
	sw := harness.NewSwitch(b.t)
	etcd := sw.StartEtcd(b.t)
	var hosts []propHost
	for _, name := range []string{"h1", "h2", "h3"} {
		h := sw.AddHost(b.t, name)
		h.StartAgent(b.t, "--kvstore", "etcd", "--kvstore-opt", "etcd.address="+etcd.Address())
		hosts = append(hosts, propHost{h: h})
		b.checkInterrupted()
	}
	for i := range hosts {
		h := hosts[i].h
		harness.LoadImage(b.t, "podman", h)
		hosts[i].server = b.benchPodman(h, "prop-server", "nc", "-ll", "-p", propServerPort, "-e", "cat")
		hosts[i].client = b.benchPodman(h, "prop-client", "sleep", "1000000")
		b.waitIdentities(h, []string{hosts[i].server.ip, hosts[i].client.ip}, 30*time.Second)
		b.checkInterrupted()
	}
	for _, ph := range hosts {
		fmt.Fprintf(b.out, "host %s: netns %s, prop-client %s -> prop-server %s:%s (echo)\n", ph.h, ph.h.NetnsName, ph.client.ip, ph.server.ip, propServerPort)
	}
	h1 := hosts[0].h
	baseline := fmt.Sprintf(`[{"labels": [{"key": "bench", "value": "baseline"}],
  "endpointSelector": {"matchLabels": {"name": "prop-server"}},
  "ingress": [{"fromEndpoints": [{"matchLabels": {"name": "prop-client"}}], "toPorts": [{"ports": [{"port": "%d", "protocol": "TCP"}]}]}]}]`, propBasePort)

	b.section("policy propagation: import on h1 until enforced on h1, h2 and h3 (each host's client reaches its server on 7001)")
	var rows [][]string
	for i, n := range propRuleCounts {
		if i > 0 {
			b.noriTimed(h1, "policy", "delete", "--all")
		}
		cli, _ := b.importRules(h1, []byte(baseline))
		base := b.untilAll(hosts, harness.Blocked)
		fmt.Fprintf(b.out, "baseline (1 rule) enforced everywhere %s after `nori policy import` returned (CLI %s): %s\n",
			slicesMax(base).Round(time.Millisecond), cli.Round(time.Millisecond), durs(base))
		s := ruleSet{n: n, server: "prop-server", client: "prop-client", allowPorts: []int{atoi(propServerPort)}, label: fmt.Sprintf("prop-%d", n)}
		rules := s.JSON()
		start := time.Now()
		cli, out := b.importRules(h1, rules)
		took := b.untilAllSince(hosts, harness.Open, start)
		row := []string{thousands(n), fmt.Sprintf("%.1f MB", float64(len(rules))/1e6), cli.Round(time.Millisecond).String()}
		for _, d := range took {
			row = append(row, d.Round(time.Millisecond).String())
		}
		row = append(row, slicesMax(took).Round(time.Millisecond).String())
		for _, ph := range hosts {
			row = append(row, fmt.Sprint(b.policyEntries(ph.h, ph.server.ip)))
		}
		rows = append(rows, row)
		fmt.Fprintf(b.out, "imported %s rules: %s\n", thousands(n), strings.TrimSpace(out))
		b.checkInterrupted()
	}
	b.noriTimed(h1, "policy", "delete", "--all")
	fmt.Fprintln(b.out)
	table(b.out, []string{"rules", "file", "import CLI", "enforced h1", "enforced h2", "enforced h3", "all hosts", "map entries h1", "h2", "h3"}, rows)
	fmt.Fprintf(b.out, "(times from the start of `nori policy import` on h1 until a new connection from each host's client to its server on %s succeeds; the time at which the first probe that got through was sent; probes are fresh connections with a 100 ms SYN timeout, so that is the resolution)\n", propServerPort)
}

// untilAll waits on every host in parallel until the client's probe to its
// server's port gives want, and returns each host's time.
func (b *bench) untilAll(hosts []propHost, want harness.Reach) []time.Duration {
	return b.untilAllSince(hosts, want, time.Now())
}

func (b *bench) untilAllSince(hosts []propHost, want harness.Reach, start time.Time) []time.Duration {
	b.t.Helper()
	took := make([]time.Duration, len(hosts))
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, ph := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := ph.server.ip + ":" + propServerPort
			var got harness.Reach
			var err error
			for time.Since(start) < polEnforceTimeout && b.ctx.Err() == nil {
				// The time of the first probe whose SYN got the wanted
				// answer: enforced by then, whatever the probe then waited.
				sent := time.Since(start)
				got, err = harness.ProbeTCP(ph.client.ns, addr, propProbeTimeout)
				if got == want {
					took[i] = sent
					return
				}
				if got != harness.Blocked {
					time.Sleep(10 * time.Millisecond)
				}
			}
			errs[i] = fmt.Errorf("host %s: %s want %s, still %s after %s (%v)", ph.h.Name, addr, want, got, polEnforceTimeout, err)
		}()
	}
	wg.Wait()
	b.checkInterrupted()
	for _, err := range errs {
		if err != nil {
			b.t.Fatal(err)
		}
	}
	return took
}

func slicesMax(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

func durs(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, d.Round(time.Millisecond).String())
	}
	return strings.Join(s, " ")
}
