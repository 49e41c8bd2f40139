// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Variant kinds and modes of the proxy section.
const (
	proxyNori  = "nori"
	proxyNginx = "nginx"
	proxyLimit = "limit"

	modeKeepalive = "keepalive"
	modeNewconn   = "newconn"
)

// httpsBackendServer is the Server header of tests/bench/https's backend.
const httpsBackendServer = "nori-bench-backend"

// proxyVariant is one URL measured in one mode.
type proxyVariant struct {
	kind string // proxyNori, proxyNginx or proxyLimit
	mode string // modeKeepalive or modeNewconn
	url  string
	desc string
}

func (v proxyVariant) name() string { return v.kind + ", " + v.mode }

// proxyVariants lists the runs: every kind in both modes.
func proxyVariants(serverIP string) []proxyVariant {
	var vs []proxyVariant
	for _, mode := range []string{modeKeepalive, modeNewconn} {
		vs = append(vs,
			proxyVariant{kind: proxyNori, mode: mode, url: "https://" + serverIP + ":" + proxyNoriPort + "/",
				desc: "Nori's proxy in the agent terminates TLS (policy terminatingTLS), forwards to the backend"},
			proxyVariant{kind: proxyNginx, mode: mode, url: "https://" + serverIP + ":" + proxyNginxPort + "/",
				desc: "Debian's nginx in the server's netns terminates TLS, upstream keep-alive to the backend"},
			proxyVariant{kind: proxyLimit, mode: mode, url: "http://" + serverIP + ":" + proxyLimitPort + "/",
				desc: "the backend directly, plain HTTP, no TLS and no proxy"})
	}
	return vs
}

// httpsProbe is what `https get` prints.
type httpsProbe struct {
	Status int    `json:"status"`
	Bytes  int64  `json:"bytes"`
	Server string `json:"server"`
	TLS    string `json:"tls"`
}

// httpsLoad is what `https load` prints.
type httpsLoad struct {
	Handshake   string  `json:"handshake"`
	TLS         string  `json:"tls"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	WarmupErrs  int     `json:"warmupErrors"`
	FirstError  string  `json:"firstError"`
	Connections int     `json:"connections"`
	Resumed     int     `json:"resumed"`
	RPS         float64 `json:"rps"`
	P50ms       float64 `json:"p50ms"`
	P99ms       float64 `json:"p99ms"`
	MaxMs       float64 `json:"maxms"`
	CPU         float64 `json:"cpu"` // the load generator's, in CPUs
	// ProxyCPU is the CPU time (user + system) of the processes doing
	// the TLS work over the whole run, warm-up included; measured here.
	ProxyCPU time.Duration `json:"-"`
}

// proxyCPUPerRequest is a run's proxy CPU time per request, counting the
// warm-up's requests at the measured rate.
func (r httpsLoad) proxyCPUPerRequest() time.Duration {
	n := r.RPS * (float64(proxySeconds) + proxyWarmup.Seconds())
	if n <= 0 || r.ProxyCPU <= 0 {
		return 0
	}
	return time.Duration(float64(r.ProxyCPU) / n)
}

// cpuTime sums the user and system CPU time of the processes.
func cpuTime(pids []int) time.Duration {
	var ticks int64
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": utime and stime are fields 14
		// and 15, the 12th and 13th after comm.
		i := strings.LastIndexByte(string(raw), ')')
		f := strings.Fields(string(raw[i+1:]))
		if i < 0 || len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	// USER_HZ is 100 on every Linux architecture Nori runs on.
	return time.Duration(ticks) * 10 * time.Millisecond
}

// httpsGet makes one request from the client's netns.
func (b *bench) httpsGet(client benchCtr, url string) (httpsProbe, error) {
	out, err := inNetns(client.ns, append([]string{b.tool("https"), "get", "-url", url, "-insecure"}, curvesArgs()...)...).output(b.ctx)
	if err != nil {
		return httpsProbe{}, err
	}
	var p httpsProbe
	if err := json.Unmarshal(out, &p); err != nil {
		return httpsProbe{}, fmt.Errorf("parse https get output %q: %w", out, err)
	}
	return p, nil
}

// proxyGet is httpsGet for setup steps, which fail the benchmark.
func (b *bench) proxyGet(client benchCtr, url string) httpsProbe {
	b.t.Helper()
	p, err := b.httpsGet(client, url)
	if err != nil {
		b.t.Fatal(err)
	}
	return p
}

func (b *bench) proxyLoadArgv(url, mode string) []string {
	return append([]string{b.tool("https"), "load", "-url", url, "-mode", mode, "-c", fmt.Sprint(proxyConcurrency),
		"-d", fmt.Sprintf("%ds", proxySeconds), "-warmup", proxyWarmup.String(), "-insecure"}, curvesArgs()...)
}

// curvesArgs passes proxyCurves on when it is set.
func curvesArgs() []string {
	if proxyCurves == "" {
		return nil
	}
	return []string{"-curves", proxyCurves}
}

// proxyLoad runs one measurement of v from the client's netns; procs
// lists the processes whose CPU time it reports (nil: none).
func (b *bench) proxyLoad(client benchCtr, v proxyVariant, procs func() []int) httpsLoad {
	b.t.Helper()
	var pids []int
	if procs != nil {
		pids = procs()
	}
	cpu0 := cpuTime(pids)
	out, err := inNetns(client.ns, b.proxyLoadArgv(v.url, v.mode)...).output(b.ctx)
	cpu1 := cpuTime(pids)
	if err != nil {
		b.t.Fatalf("%s: %v", v.name(), err)
	}
	var r httpsLoad
	if err := json.Unmarshal(out, &r); err != nil {
		b.t.Fatalf("%s: parse https load output %q: %v", v.name(), out, err)
	}
	r.ProxyCPU = cpu1 - cpu0
	return r
}

// proxyRounds runs every variant once per round, starting one later each
// round, and returns each variant's runs in round order.
func (b *bench) proxyRounds(rig proxyRig, rounds int) [][]httpsLoad {
	b.t.Helper()
	vs := rig.vs
	res := make([][]httpsLoad, len(vs))
	for r := 0; r < rounds; r++ {
		for k := range vs {
			i := (r + k) % len(vs)
			res[i] = append(res[i], b.proxyLoad(rig.client, vs[i], rig.procs[vs[i].kind]))
			b.checkInterrupted()
		}
		fmt.Fprintf(b.out, "round %d/%d done (load average %s)\n", r+1, rounds, loadavg())
	}
	return res
}

// proxyTable prints each variant's runs and, for Nori, the ratios to
// nginx in the same mode and the targets.
func (b *bench) proxyTable(vs []proxyVariant, res [][]httpsLoad) {
	b.t.Helper()
	anchor := func(v proxyVariant) int { return anchorIndex(vs, v.mode) }
	field := func(rs []httpsLoad, f func(httpsLoad) float64) []float64 {
		xs := make([]float64, len(rs))
		for k, r := range rs {
			xs[k] = f(r)
		}
		return xs
	}
	rps := func(i int) []float64 { return field(res[i], func(r httpsLoad) float64 { return r.RPS }) }
	p50 := func(i int) []float64 { return field(res[i], func(r httpsLoad) float64 { return r.P50ms }) }
	p99 := func(i int) []float64 { return field(res[i], func(r httpsLoad) float64 { return r.P99ms }) }
	maxs := func(i int) []float64 { return field(res[i], func(r httpsLoad) float64 { return r.MaxMs }) }
	cpu := func(i int) []float64 { return field(res[i], func(r httpsLoad) float64 { return r.CPU }) }
	proxyCPU := func(i int) string {
		xs := field(res[i], func(r httpsLoad) float64 { return float64(r.proxyCPUPerRequest()) })
		if median(xs) == 0 {
			return "-"
		}
		return dur(int64(median(xs)))
	}

	var rows [][]string
	var failures []string
	for i, v := range vs {
		var rounds []string
		requests, errs := 0, 0
		for _, r := range res[i] {
			rounds = append(rounds, fmt.Sprintf("%.0f", r.RPS))
			requests += r.Requests
			errs += r.Errors
			if r.Resumed != 0 {
				failures = append(failures, fmt.Sprintf("%s: %d TLS sessions resumed (want full handshakes)", v.name(), r.Resumed))
			}
		}
		if errs*100 > requests {
			failures = append(failures, fmt.Sprintf("%s: %d errors in %d requests (%s)", v.name(), errs, requests, firstError(res[i])))
		}
		a := anchor(v)
		rows = append(rows, []string{v.name(), strings.Join(rounds, " "), fmt.Sprintf("%.0f", median(rps(i))),
			ms(median(p50(i))), ms(median(p99(i))), ms(maxOf(maxs(i))), fmt.Sprint(errs), fmt.Sprintf("%.2f", median(cpu(i))), proxyCPU(i),
			fmt.Sprintf("%.2f×", pairedRatio(rps(i), rps(a))), fmt.Sprintf("%.2f×", pairedRatio(p99(i), p99(a))), res[i][0].TLS})
	}
	fmt.Fprintln(b.out)
	table(b.out, []string{"variant", "req/s per round", "req/s (median)", "p50 (median of rounds)", "p99 (median of rounds)", "max", "errors", "client CPUs", "proxy CPU per request",
		"req/s vs nginx (per-round ratio, median)", "p99 vs nginx (per-round ratio, median)", "TLS negotiated"}, rows)
	for _, v := range vs {
		if v.mode == modeKeepalive {
			fmt.Fprintf(b.out, "%-5s %s: %s\n", v.kind, v.url, v.desc)
		}
	}
	fmt.Fprintln(b.out, "proxy CPU per request: user + system CPU time of the agent (all of it) or of nginx's master and workers over a run, warm-up included, per request at the run's rate")
	for _, mode := range []string{modeKeepalive, modeNewconn} {
		fmt.Fprintf(b.out, "TLS handshakes with %s: %s\n", mode, res[anchorIndex(vs, mode)][0].Handshake)
	}

	target := map[string]float64{modeKeepalive: 1.0, modeNewconn: 0.8}
	for i, v := range vs {
		if v.kind != proxyNori {
			continue
		}
		a := anchor(v)
		r := pairedRatio(rps(i), rps(a))
		fmt.Fprintf(b.out, "target: Nori requests/s ≥ %.1f× nginx's with %s: %s (%.2f×: %.0f vs %.0f req/s, medians)\n",
			target[v.mode], v.mode, verdict(r >= target[v.mode]), r, median(rps(i)), median(rps(a)))
		fmt.Fprintf(b.out, "target: Nori p99 ≤ nginx's with %s: %s (%s vs %s, medians of rounds)\n",
			v.mode, verdict(median(p99(i)) <= median(p99(a))), ms(median(p99(i))), ms(median(p99(a))))
	}
	if len(failures) > 0 {
		b.t.Errorf("proxy benchmark runs are not clean:\n  %s", strings.Join(failures, "\n  "))
	}
}

func anchorIndex(vs []proxyVariant, mode string) int {
	for j, w := range vs {
		if w.kind == proxyNginx && w.mode == mode {
			return j
		}
	}
	panic("no nginx variant for mode " + mode)
}

func firstError(rs []httpsLoad) string {
	for _, r := range rs {
		if r.FirstError != "" {
			return r.FirstError
		}
	}
	return "no error text"
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// ms prints milliseconds as dur does nanoseconds.
func ms(x float64) string { return dur(int64(x * 1e6)) }
