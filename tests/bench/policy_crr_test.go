// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"encoding/json"
	"fmt"
	"strings"
)

func (b *bench) crrClientArgv(ip string) []string {
	return []string{b.tool("rr"), "crr-client", "-addr", ip + ":" + crrPort,
		"-n", fmt.Sprint(crrCount), "-warmup", fmt.Sprint(crrWarmup)}
}

// crr runs one connect/request/response round and returns every
// transaction's time (ns).
func (b *bench) crr(v variant) []int64 {
	b.t.Helper()
	stop, err := inNetns(v.server, b.tool("rr"), "crr-server", "-port", crrPort).server(b.ctx, "ready")
	if err != nil {
		b.t.Fatalf("%s: %v", v.name, err)
	}
	defer stop()
	out, err := inNetns(v.client, b.crrClientArgv(v.serverIP)...).output(b.ctx)
	if err != nil {
		b.t.Fatalf("%s: %v", v.name, err)
	}
	var ts []int64
	if err := json.Unmarshal(out, &ts); err != nil || len(ts) != crrCount {
		b.t.Fatalf("%s: crr output: %v (%d samples)", v.name, err, len(ts))
	}
	return ts
}

// crrRounds is rrRounds for crr.
func (b *bench) crrRounds(vs []polVariant, res []dpResult, rounds int) {
	b.t.Helper()
	for r := 0; r < rounds; r++ {
		for k := range vs {
			i := (r + k) % len(vs)
			ts := b.crr(vs[i].variant)
			res[i].rtts = append(res[i].rtts, ts...)
			res[i].rrP50s = append(res[i].rrP50s, percentile(ts, 50))
			b.checkInterrupted()
		}
	}
}

// policyCRRTable prints crr results against the 0-rule variant of each kind.
func (b *bench) policyCRRTable(vs []polVariant, res []dpResult) {
	b.latencyTable(vs, res, "transactions")
	p50 := func(i int) float64 { return float64(percentile(res[i].rtts, 50)) }
	n0, n10k := indexOf(vs, true, 0), indexOf(vs, true, 10000)
	i0, i10k := indexOf(vs, false, 0), indexOf(vs, false, 10000)
	fmt.Fprintf(b.out, "10 000 rules vs 0 (p50): Nori %s (%s vs %s; per-round %.2f×), iptables %s (%s vs %s)\n",
		ratio(p50(n10k), p50(n0)), dur(int64(p50(n10k))), dur(int64(p50(n0))), pairedP50Ratio(res[n10k], res[n0]),
		ratio(p50(i10k), p50(i0)), dur(int64(p50(i10k))), dur(int64(p50(i0))))
}

// latencyTable prints pooled p50/p99, per-round p50s and ratios against
// the 0-rule variant of each kind (RR and CRR alike).
func (b *bench) latencyTable(vs []polVariant, res []dpResult, unit string) {
	var rows [][]string
	for i, v := range vs {
		bi := baseIndex(vs, v.nori)
		p50, p99 := percentile(res[i].rtts, 50), percentile(res[i].rtts, 99)
		var rs []string
		for _, x := range res[i].rrP50s {
			rs = append(rs, fmt.Sprintf("%.0f", float64(x)/1e3))
		}
		rows = append(rows, []string{v.name, fmt.Sprint(len(res[i].rtts)), dur(p50), dur(p99), strings.Join(rs, " "),
			ratio(float64(p50), float64(percentile(res[bi].rtts, 50))), fmt.Sprintf("%.2f×", pairedP50Ratio(res[i], res[bi])),
			ratio(float64(p99), float64(percentile(res[bi].rtts, 99)))})
	}
	fmt.Fprintln(b.out)
	table(b.out, []string{"variant", unit, "p50", "p99", "p50 per round (µs)", "p50 vs 0 rules", "per-round p50 ratio vs 0 rules (median)", "p99 vs 0 rules"}, rows)
}

// pairedP50Ratio is the median over rounds of a's p50 / ref's p50: rounds
// of one rotation run back to back, so drifting outside load cancels out.
func pairedP50Ratio(a, ref dpResult) float64 {
	x := make([]float64, len(a.rrP50s))
	y := make([]float64, len(ref.rrP50s))
	for i, v := range a.rrP50s {
		x[i] = float64(v)
	}
	for i, v := range ref.rrP50s {
		y[i] = float64(v)
	}
	return pairedRatio(x, y)
}
