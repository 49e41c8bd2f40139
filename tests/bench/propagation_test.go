// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/tests/harness"
)

// Propagation parameters (issue 3: p50/p99 over 50 endpoints, p99 < 1 s).
const (
	propEndpoints = 50
	probeInterval = 10 * time.Millisecond // one echo request per interval
	cachePoll     = 10 * time.Millisecond // h3's ipcache read via the API
	propTimeout   = 10 * time.Second
)

// propSample is one endpoint's timings, from the start of its ADD.
type propSample struct {
	ip      string
	add     time.Duration // ADD returned
	inCache time.Duration // first seen in h3's BPF ipcache (API poll)
	reach   time.Duration // first echo reply to a probe from a container on h3
}

// propagation creates endpoints on h1 one after another and measures how
// soon a container on h3 reaches each.
func (b *bench) propagation(c *cluster) {
	b.t.Helper()
	h1, h3 := c.nori[0], c.nori[2]
	b.section(fmt.Sprintf("endpoint propagation: %d endpoints created one after another on %s (libcni ADD via nori-cni, fresh netns each); time from the start of the ADD until a container on %s gets an ICMP echo reply (in-process raw socket in its netns, one request per %s)",
		propEndpoints, h1.Name, h3.Name, probeInterval))
	n1, n3 := b.noriConflistOn(h1), b.noriConflistOn(h3)
	probeNS, probeIP := b.cniContainer(h3, n3, b.ns+"-probe")
	prober, err := newICMPProber(probeNS)
	if err != nil {
		b.t.Fatal(err)
	}
	defer prober.Close()
	fmt.Fprintf(b.out, "prober: container %s (%s) on %s; ADD command: %s\n", probeNS, probeIP, h3.Name,
		inNetns(h1.Netns, b.cniArgv(h1, "add", n1, "ID", "NETNS", "-print-start")...).line())

	watch := newCacheWatch(b.ctx, h3)
	defer watch.stop()
	var samples []propSample
	for i := 0; i < propEndpoints; i++ {
		b.checkInterrupted()
		id := fmt.Sprintf("%s-pe%d", b.ns, i)
		path := b.addNetns(id)
		b.cniDelOnCleanup(h1, n1, id, path)
		out := inNetns(h1.Netns, b.cniArgv(h1, "add", n1, id, path, "-print-start")...).mustOutput(b)
		added := time.Now()
		ipStr, startStr, ok := strings.Cut(out, " ")
		startNs, err := strconv.ParseInt(startStr, 10, 64)
		ip, perr := netip.ParseAddr(ipStr)
		if !ok || err != nil || perr != nil {
			b.t.Fatalf("cnidriver add output %q", out)
		}
		start := time.Unix(0, startNs)
		reached, err := prober.reach(ip, probeInterval, added.Add(propTimeout))
		if err != nil {
			b.t.Fatalf("endpoint %d (%s) on %s: not reachable from %s within %s: %v", i, ip, h1.Name, h3.Name, propTimeout, err)
		}
		seen, err := watch.firstSeen(ip.String()+"/32", propTimeout)
		if err != nil {
			b.t.Fatalf("endpoint %d: %v", i, err)
		}
		samples = append(samples, propSample{ip: ip.String(), add: added.Sub(start), inCache: seen.Sub(start), reach: reached.Sub(start)})
	}
	b.propagationTable(samples)
	b.agentPropagation(c.nori[1:])
}

func (b *bench) propagationTable(samples []propSample) {
	col := func(f func(propSample) time.Duration) []int64 {
		var xs []int64
		for _, s := range samples {
			xs = append(xs, int64(f(s)))
		}
		return xs
	}
	rows := [][]string{}
	for _, m := range []struct {
		name string
		xs   []int64
	}{
		{"ADD returned (nori-cni + nori-ipam via libcni)", col(func(s propSample) time.Duration { return s.add })},
		{"in h3's BPF ipcache (API poll every 10ms)", col(func(s propSample) time.Duration { return s.inCache })},
		{"reachable from a container on h3 (ICMP echo reply)", col(func(s propSample) time.Duration { return s.reach })},
		{"reachable after the ADD returned", col(func(s propSample) time.Duration { return s.reach - s.add })},
	} {
		rows = append(rows, []string{m.name, fmt.Sprint(len(m.xs)), dur(percentile(m.xs, 50)), dur(percentile(m.xs, 99)), dur(percentile(m.xs, 100))})
	}
	fmt.Fprintln(b.out)
	table(b.out, []string{"from the start of the ADD on h1 until", "endpoints", "p50", "p99", "max"}, rows)
	var each []string
	for _, s := range samples {
		each = append(each, fmt.Sprintf("%.0f", float64(s.reach)/1e6))
	}
	fmt.Fprintf(b.out, "reachable per endpoint (ms, in creation order): %s\n", strings.Join(each, " "))
	p99 := time.Duration(percentile(col(func(s propSample) time.Duration { return s.reach }), 99))
	fmt.Fprintf(b.out, "target: endpoint creation on h1 → reachable from h3, p99 < 1 s: %s (%s)\n", verdict(p99 < time.Second), dur(int64(p99)))
}

// agentPropagation prints the agents' own measure: per remote ipcache
// entry, from the owning agent's put to this agent's datapath write.
func (b *bench) agentPropagation(hosts []*harness.Host) {
	b.t.Helper()
	var rows [][]string
	for _, h := range hosts {
		c := inNetns("", filepath.Join(harness.BinDir(b.t), "nori"), "--socket", h.Socket, "status", "-o", "json")
		out := c.mustOutput(b)
		var st api.Status
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			b.t.Fatalf("parse %s: %v", c.line(), err)
		}
		p := st.Propagation
		if p == nil {
			rows = append(rows, []string{h.Name, "-", "-", "-", "-"})
			continue
		}
		rows = append(rows, []string{h.Name, fmt.Sprint(p.Samples), fmt.Sprintf("%.1fms", p.P50Ms), fmt.Sprintf("%.1fms", p.P99Ms), fmt.Sprintf("%.1fms", p.MaxMs)})
	}
	fmt.Fprintf(b.out, "\nagents' own ipcachePropagation (nori status -o json: owner's put → local datapath write, all remote entries so far):\n")
	table(b.out, []string{"agent", "samples", "p50", "p99", "max"}, rows)
}

// cacheWatch polls a host's BPF ipcache through the agent API and records
// when each prefix first appeared, so an entry that lands before the ADD
// on the other host even returns is timed too.
type cacheWatch struct {
	mu     sync.Mutex
	seen   map[string]time.Time
	err    error
	cancel context.CancelFunc
	done   chan struct{}
}

func newCacheWatch(ctx context.Context, h *harness.Host) *cacheWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &cacheWatch{seen: map[string]time.Time{}, cancel: cancel, done: make(chan struct{})}
	client := h.Client()
	go func() {
		defer close(w.done)
		first := true
		for ctx.Err() == nil {
			entries, err := client.BPFIPCache(ctx)
			now := time.Now()
			w.mu.Lock()
			if ctx.Err() == nil {
				w.err = err // a later success clears a passing failure
			}
			for _, e := range entries {
				if _, ok := w.seen[e.Prefix]; !ok {
					// Entries present before the watch started have
					// no meaningful time; keep them as zero.
					if first {
						now = time.Time{}
					}
					w.seen[e.Prefix] = now
				}
			}
			w.mu.Unlock()
			if err == nil {
				first = false
			}
			select {
			case <-ctx.Done():
			case <-time.After(cachePoll):
			}
		}
	}()
	return w
}

// firstSeen waits up to timeout for prefix and returns when it appeared.
func (w *cacheWatch) firstSeen(prefix string, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		at, ok := w.seen[prefix]
		err := w.err
		w.mu.Unlock()
		if ok {
			return at, nil
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("read ipcache: %w", err)
		}
		time.Sleep(cachePoll)
	}
	return time.Time{}, fmt.Errorf("%s not in the ipcache after %s", prefix, timeout)
}

func (w *cacheWatch) stop() {
	w.cancel()
	<-w.done
}
