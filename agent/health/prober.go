// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package health

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nori-net/nori/agent/node"
)

// Defaults of ProberConfig.
const (
	DefaultInterval = 5 * time.Second
	DefaultTimeout  = 2 * time.Second
)

// ProberConfig configures a Prober.
type ProberConfig struct {
	// LocalName is this node; it is never probed and counts as reachable.
	LocalName string
	// Nodes returns the cluster's nodes (the local one may be included);
	// called once per round.
	Nodes func() []node.Node
	// Interval between rounds (DefaultInterval when zero) and Timeout of
	// each probe (DefaultTimeout when zero).
	Interval time.Duration
	Timeout  time.Duration
	// Port of the other nodes' health servers; Port when zero.
	Port int
	// SourceIP, when set, is the source of the probes: the local health
	// address makes the answers come back through the datapath like any
	// endpoint's traffic.
	SourceIP netip.Addr
	// DisableICMP leaves out the echo probe (it needs a raw socket).
	DisableICMP bool
	Logger      *slog.Logger
}

// PathStatus is the result of one kind of probe to one node.
type PathStatus struct {
	Reachable bool
	Latency   time.Duration
	LastError string
}

// NodeStatus is what the last probe of one node found.
type NodeStatus struct {
	Name      string
	NodeIP    netip.Addr
	HealthIP  netip.Addr
	ICMP      *PathStatus // nil with DisableICMP
	HTTP      PathStatus
	LastProbe time.Time
}

// Reachable is true when every probe of the node succeeded.
func (n NodeStatus) Reachable() bool {
	return n.HTTP.Reachable && (n.ICMP == nil || n.ICMP.Reachable)
}

// Prober probes the health address of every other node.
type Prober struct {
	cfg    ProberConfig
	logger *slog.Logger
	hc     *http.Client
	pinger *pinger

	mu    sync.Mutex
	nodes map[string]NodeStatus
	round time.Time
}

// NewProber returns a Prober; probing starts with Run or ProbeOnce.
func NewProber(cfg ProberConfig) *Prober {
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Port == 0 {
		cfg.Port = Port
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout}
	if cfg.SourceIP.IsValid() {
		dialer.LocalAddr = &net.TCPAddr{IP: cfg.SourceIP.AsSlice()}
	}
	return &Prober{
		cfg:    cfg,
		logger: cfg.Logger.With("subsys", "health"),
		// No keep-alive: every probe opens a new connection, so a broken
		// path is not hidden behind a connection that was set up before.
		hc: &http.Client{
			Timeout: cfg.Timeout,
			Transport: &http.Transport{
				DialContext:       dialer.DialContext,
				DisableKeepAlives: true,
				Proxy:             nil,
			},
		},
		pinger: newPinger(cfg.SourceIP),
		nodes:  map[string]NodeStatus{},
	}
}

// Run probes every Interval until ctx ends.
func (p *Prober) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		p.ProbeOnce(ctx)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// ProbeOnce probes every remote node once, all in parallel, and returns
// when every probe has finished or timed out.
func (p *Prober) ProbeOnce(ctx context.Context) {
	var targets []node.Node
	if p.cfg.Nodes != nil {
		for _, n := range p.cfg.Nodes() {
			if n.Name != p.cfg.LocalName {
				targets = append(targets, n)
			}
		}
	}
	results := make([]NodeStatus, len(targets))
	var wg sync.WaitGroup
	for i, n := range targets {
		wg.Go(func() { results[i] = p.probe(ctx, n) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	fresh := make(map[string]NodeStatus, len(results))
	for _, r := range results {
		fresh[r.Name] = r
		if old, ok := p.previous(r.Name); ok && old.Reachable() != r.Reachable() {
			p.logger.Info("node health changed", "node", r.Name, "healthIP", r.HealthIP, "reachable", r.Reachable(), "err", r.err())
		}
	}
	p.mu.Lock()
	p.nodes = fresh
	p.round = time.Now()
	p.mu.Unlock()
}

func (p *Prober) previous(name string) (NodeStatus, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, ok := p.nodes[name]
	return n, ok
}

func (p *Prober) probe(ctx context.Context, n node.Node) NodeStatus {
	st := NodeStatus{Name: n.Name, NodeIP: n.IPv4, HealthIP: IP(n.IPv4CIDR), LastProbe: time.Now()}
	if !st.HealthIP.IsValid() {
		st.HTTP.LastError = fmt.Sprintf("no health address in node CIDR %q", n.IPv4CIDR)
		if !p.cfg.DisableICMP {
			st.ICMP = &PathStatus{LastError: st.HTTP.LastError}
		}
		return st
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	var wg sync.WaitGroup
	if !p.cfg.DisableICMP {
		st.ICMP = &PathStatus{}
		wg.Go(func() { *st.ICMP = result(p.pinger.ping(ctx, st.HealthIP)) })
	}
	st.HTTP = result(p.hello(ctx, st.HealthIP))
	wg.Wait()
	return st
}

func result(d time.Duration, err error) PathStatus {
	if err != nil {
		return PathStatus{LastError: err.Error()}
	}
	return PathStatus{Reachable: true, Latency: d}
}

// hello does GET /hello on a node's health server.
func (p *Prober) hello(ctx context.Context, ip netip.Addr) (time.Duration, error) {
	url := "http://" + net.JoinHostPort(ip.String(), strconv.Itoa(p.cfg.Port)) + PathHello
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("build health request: %w", err)
	}
	start := time.Now()
	resp, err := p.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("http: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("http: %s answered %s", url, resp.Status)
	}
	return time.Since(start), nil
}

// err names the failed probes briefly, e.g. "icmp: timeout, http:
// refused"; LastError holds the whole errors.
func (n NodeStatus) err() string {
	var parts []string
	if n.ICMP != nil && !n.ICMP.Reachable {
		parts = append(parts, "icmp: "+brief(n.ICMP.LastError))
	}
	if !n.HTTP.Reachable {
		parts = append(parts, "http: "+brief(n.HTTP.LastError))
	}
	return strings.Join(parts, ", ")
}

// brief reduces an error text to what a table cell has room for.
func brief(err string) string {
	for _, k := range []struct{ sub, word string }{
		{"connection refused", "refused"},
		{"no route to host", "no route"},
		{"network is unreachable", "no route"},
		{"destination unreachable", "unreachable"},
		{"no health address", "no health address"},
		{"timeout", "timeout"},
		{"deadline exceeded", "timeout"},
		{"no echo reply", "timeout"},
		{"answered", "bad answer"},
	} {
		if strings.Contains(err, k.sub) {
			return k.word
		}
	}
	return "error"
}
