// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"strings"
	"testing"
)

// TestProxyTable feeds the table synthetic rounds and checks the ratios
// and verdicts against nginx in the same mode.
func TestProxyTable(t *testing.T) {
	run := func(rps, p99 float64) httpsLoad {
		return httpsLoad{Requests: int(rps * proxySeconds), RPS: rps, P50ms: p99 / 3, P99ms: p99, MaxMs: 2 * p99, TLS: "TLS 1.3"}
	}
	rounds := func(rps []float64, p99 float64) []httpsLoad {
		var rs []httpsLoad
		for _, x := range rps {
			rs = append(rs, run(x, p99))
		}
		return rs
	}
	vs := proxyVariants("10.0.0.3")
	res := make([][]httpsLoad, len(vs))
	for i, v := range vs {
		switch {
		case v.kind == proxyNori && v.mode == modeKeepalive:
			res[i] = rounds([]float64{1100, 900, 1210}, 2) // per round vs nginx: 1.10 0.90 1.10
		case v.kind == proxyNginx && v.mode == modeKeepalive:
			res[i] = rounds([]float64{1000, 1000, 1100}, 3)
		case v.kind == proxyNori:
			res[i] = rounds([]float64{70, 70, 70}, 5) // 0.70× of nginx
		case v.kind == proxyNginx:
			res[i] = rounds([]float64{100, 100, 100}, 4)
		default:
			res[i] = rounds([]float64{5000, 5000, 5000}, 1)
		}
	}
	var out strings.Builder
	b := &bench{t: t, out: &out}
	b.proxyTable(vs, res)
	t.Log("\n" + out.String())
	for _, want := range []string{
		"target: Nori requests/s ≥ 1.0× nginx's with keepalive: MET (1.10×: 1100 vs 1000 req/s, medians)",
		"target: Nori p99 ≤ nginx's with keepalive: MET (2.00ms vs 3.00ms",
		"target: Nori requests/s ≥ 0.8× nginx's with newconn: MISSED (0.70×",
		"target: Nori p99 ≤ nginx's with newconn: MISSED (5.00ms vs 4.00ms",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
