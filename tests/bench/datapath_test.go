// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Data path parameters: ~5 s single-stream iperf3 rounds and short RR
// rounds, variants rotated within each round so load hits all alike. RR
// p50 on this VM jumps between two modes (≈22 µs and ≈32 µs) from round to
// round for every variant; many short rounds spread the modes evenly.
const (
	iperfSeconds = 5
	iperfRounds  = 6
	rrRounds     = 10
	rrCount      = 10000
	rrWarmup     = 1000
	iperfPort    = "5201"
	rrPort       = "5202"
)

// RR processes are not pinned: on this 2-vCPU VM, server and client pinned
// to different CPUs had a p50 of 70–140 µs (every reply waits for the other
// vCPU to wake), pinned to one CPU 23–65 µs, unpinned a stable 21–23 µs on
// a bare veth pair.

type dpResult struct {
	gbps    []float64
	retrans []int
	rtts    []int64 // all rounds pooled
	rrP50s  []int64 // per round
}

// dataPath measures throughput and RR latency for Nori, the bare veth
// limit and the reference bridge.
func (b *bench) dataPath() {
	b.t.Helper()
	b.section("same-host container-to-container data path: setup")
	vs := []variant{
		b.bareVeth("v", 0),
		b.cniPair(b.noriConflist(), "n", "two containers via nori-cni on the simulated host (agent defaults)"),
		b.cniPair(b.bridgeConflist("bridge", "nbr0", "192.168.77.0/24", true), "b", "two containers via the reference bridge + host-local on the same host"),
	}
	// Nori's default MTU leaves room for VXLAN; a bare veth pair at the
	// same MTU tells the MTU's share of a gap from the datapath's.
	if vs[1].mtu != vs[0].mtu {
		mtu, err := strconv.Atoi(vs[1].mtu)
		if err != nil {
			b.t.Fatalf("nori MTU %q: %v", vs[1].mtu, err)
		}
		vs = append(vs, b.bareVeth("m", mtu))
	}
	rows := [][]string{}
	for _, v := range vs {
		rows = append(rows, []string{v.name, v.mtu, v.client + " -> " + v.server + " (" + v.serverIP + ")", v.desc})
	}
	table(b.out, []string{"variant", "MTU", "client netns -> server netns (server IP)", "what"}, rows)
	res := make([]dpResult, len(vs))
	b.checkInterrupted()

	b.section(fmt.Sprintf("TCP throughput: iperf3, single stream, %d s (+1 s omitted), %d rounds, variants rotated per round", iperfSeconds, iperfRounds))
	fmt.Fprintf(b.out, "commands: %s\n          %s\n",
		inNetns("SERVER_NETNS", "iperf3", "-s", "-1", "-p", iperfPort, "--forceflush").line(),
		inNetns("CLIENT_NETNS", b.iperfClientArgv("SERVER_IP")...).line())
	b.iperfRounds(vs, res, iperfRounds)
	b.throughputTable(vs, res)

	b.section(fmt.Sprintf("TCP request/response latency: 1-byte ping-pong (blocking sockets, TCP_NODELAY, like netperf TCP_RR), %d exchanges (+%d warm-up) per round, %d rounds rotated, processes not pinned", rrCount, rrWarmup, rrRounds))
	fmt.Fprintf(b.out, "commands: %s\n          %s\n",
		inNetns("SERVER_NETNS", b.rrServerArgv()...).line(),
		inNetns("CLIENT_NETNS", b.rrClientArgv("SERVER_IP")...).line())
	b.rrRounds(vs, res, rrRounds)
	b.rrTable(vs, res)
}

// iperfRounds runs rounds of iperf3 over every variant, the order rotated
// each round so that a burst of outside load does not hit one variant only.
func (b *bench) iperfRounds(vs []variant, res []dpResult, rounds int) {
	b.t.Helper()
	for r := 0; r < rounds; r++ {
		for k := range vs {
			i := (r + k) % len(vs)
			gbps, rt := b.iperf(vs[i])
			res[i].gbps = append(res[i].gbps, gbps)
			res[i].retrans = append(res[i].retrans, rt)
			b.checkInterrupted()
		}
	}
}

// rrRounds is iperfRounds for request/response latency.
func (b *bench) rrRounds(vs []variant, res []dpResult, rounds int) {
	b.t.Helper()
	for r := 0; r < rounds; r++ {
		for k := range vs {
			i := (r + k) % len(vs)
			rtts := b.rr(vs[i])
			res[i].rtts = append(res[i].rtts, rtts...)
			res[i].rrP50s = append(res[i].rrP50s, percentile(rtts, 50))
			b.checkInterrupted()
		}
	}
}

func (b *bench) iperfClientArgv(ip string) []string {
	return []string{"iperf3", "-c", ip, "-p", iperfPort, "-t", fmt.Sprint(iperfSeconds), "-O", "1", "-J"}
}

// iperf runs one round and returns Gbit/s received and sender retransmits.
func (b *bench) iperf(v variant) (float64, int) {
	b.t.Helper()
	stop, err := inNetns(v.server, "iperf3", "-s", "-1", "-p", iperfPort, "--forceflush").server(b.ctx, "Server listening")
	if err != nil {
		b.t.Fatalf("%s: %v", v.name, err)
	}
	defer stop()
	out, err := inNetns(v.client, b.iperfClientArgv(v.serverIP)...).output(b.ctx)
	if err != nil {
		b.t.Fatalf("%s: %v", v.name, err)
	}
	var rep struct {
		End struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &rep); err != nil || rep.Error != "" {
		b.t.Fatalf("%s: iperf3 report: %v %s", v.name, err, rep.Error)
	}
	return rep.End.SumReceived.BitsPerSecond / 1e9, rep.End.SumSent.Retransmits
}

func (b *bench) rrServerArgv() []string {
	return []string{b.tool("rr"), "server", "-port", rrPort}
}

func (b *bench) rrClientArgv(ip string) []string {
	return []string{b.tool("rr"), "client", "-addr", ip + ":" + rrPort,
		"-n", fmt.Sprint(rrCount), "-warmup", fmt.Sprint(rrWarmup)}
}

// rr runs one request/response round and returns every round trip (ns).
func (b *bench) rr(v variant) []int64 {
	b.t.Helper()
	stop, err := inNetns(v.server, b.rrServerArgv()...).server(b.ctx, "ready")
	if err != nil {
		b.t.Fatalf("%s: %v", v.name, err)
	}
	defer stop()
	out, err := inNetns(v.client, b.rrClientArgv(v.serverIP)...).output(b.ctx)
	if err != nil {
		b.t.Fatalf("%s: %v", v.name, err)
	}
	var rtts []int64
	if err := json.Unmarshal(out, &rtts); err != nil || len(rtts) != rrCount {
		b.t.Fatalf("%s: rr output: %v (%d samples)", v.name, err, len(rtts))
	}
	return rtts
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func (b *bench) throughputTable(vs []variant, res []dpResult) {
	base := median(res[0].gbps)
	baseMax := slices.Max(res[0].gbps)
	var rows [][]string
	for i, v := range vs {
		var rounds, rt []string
		for k, g := range res[i].gbps {
			rounds = append(rounds, fmt.Sprintf("%.2f", g))
			rt = append(rt, fmt.Sprint(res[i].retrans[k]))
		}
		rows = append(rows, []string{v.name, strings.Join(rounds, " "),
			fmt.Sprintf("%.2f", median(res[i].gbps)), fmt.Sprintf("%.2f", mean(res[i].gbps)), fmt.Sprintf("%.2f", slices.Max(res[i].gbps)),
			ratio(median(res[i].gbps), base), ratio(slices.Max(res[i].gbps), baseMax), strings.Join(rt, " ")})
	}
	fmt.Fprintln(b.out)
	table(b.out, []string{"variant", "Gbit/s per round", "median", "mean", "max", "median vs bare veth", "max vs bare veth", "retransmits per round"}, rows)
	nori := median(res[1].gbps)
	fmt.Fprintf(b.out, "target: Nori throughput (median) ≥ 0.95× bare veth: %s (%s%s)\n", verdict(nori >= 0.95*base), ratio(nori, base),
		sameMTU(vs, func(i int) string { return ratio(nori, median(res[i].gbps)) }))
}

func (b *bench) rrTable(vs []variant, res []dpResult) {
	baseP50 := float64(percentile(res[0].rtts, 50))
	baseP99 := float64(percentile(res[0].rtts, 99))
	var rows [][]string
	for i, v := range vs {
		p50, p99 := percentile(res[i].rtts, 50), percentile(res[i].rtts, 99)
		var rs []string
		for _, x := range res[i].rrP50s {
			rs = append(rs, fmt.Sprintf("%.0f", float64(x)/1e3))
		}
		rows = append(rows, []string{v.name, fmt.Sprint(len(res[i].rtts)), dur(p50), dur(p99), strings.Join(rs, " "),
			ratio(float64(p50), baseP50), ratio(float64(p99), baseP99)})
	}
	fmt.Fprintln(b.out)
	table(b.out, []string{"variant", "exchanges", "p50", "p99", "p50 per round (µs)", "p50 vs bare veth", "p99 vs bare veth"}, rows)
	n50 := float64(percentile(res[1].rtts, 50))
	fmt.Fprintf(b.out, "target: Nori RR latency (p50) ≤ 1.1× bare veth: %s (%s; p99 %s%s)\n",
		verdict(n50 <= 1.1*baseP50), ratio(n50, baseP50), ratio(float64(percentile(res[1].rtts, 99)), baseP99),
		sameMTU(vs, func(i int) string { return ratio(n50, float64(percentile(res[i].rtts, 50))) }))
}

// sameMTU names Nori's ratio against the bare veth at Nori's MTU, when the
// benchmark added that variant.
func sameMTU(vs []variant, r func(i int) string) string {
	if len(vs) < 4 {
		return ""
	}
	return fmt.Sprintf("; vs %s: %s", vs[3].name, r(3))
}
