// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Data path parameters: ~5 s single-stream iperf3 and 20k-exchange RR
// rounds, variants rotated within each round so load hits all alike.
const (
	iperfSeconds = 5
	iperfRounds  = 3
	rrRounds     = 5
	rrCount      = 20000
	rrWarmup     = 2000
	iperfPort    = "5201"
	rrPort       = "5202"
)

// rrPin pins the RR server and client to different CPUs: unpinned, the
// scheduler moving them around added a second mode to every variant.
var rrPin = [2]string{"0", "1"} // server, client

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
		b.bareVeth(),
		b.cniPair(b.noriConflist(), "n", "two containers via nori-cni on the simulated host (agent defaults)"),
		b.cniPair(b.bridgeConflist("bridge", "nbr0", "192.168.77.0/24", true), "b", "two containers via the reference bridge + host-local on the same host"),
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
	for r := 0; r < iperfRounds; r++ {
		for k := range vs {
			i := (r + k) % len(vs)
			gbps, rt := b.iperf(vs[i])
			res[i].gbps = append(res[i].gbps, gbps)
			res[i].retrans = append(res[i].retrans, rt)
			b.checkInterrupted()
		}
	}
	b.throughputTable(vs, res)

	b.section(fmt.Sprintf("TCP request/response latency: 1-byte ping-pong (blocking sockets, TCP_NODELAY, like netperf TCP_RR), %d exchanges (+%d warm-up) per round, %d rounds rotated, server pinned to CPU %s, client to CPU %s", rrCount, rrWarmup, rrRounds, rrPin[0], rrPin[1]))
	fmt.Fprintf(b.out, "commands: %s\n          %s\n",
		inNetns("SERVER_NETNS", b.rrServerArgv()...).line(),
		inNetns("CLIENT_NETNS", b.rrClientArgv("SERVER_IP")...).line())
	for r := 0; r < rrRounds; r++ {
		for k := range vs {
			i := (r + k) % len(vs)
			rtts := b.rr(vs[i])
			res[i].rtts = append(res[i].rtts, rtts...)
			res[i].rrP50s = append(res[i].rrP50s, percentile(rtts, 50))
			b.checkInterrupted()
		}
	}
	b.rrTable(vs, res)
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
	return []string{"taskset", "-c", rrPin[0], b.tool("rr"), "server", "-port", rrPort}
}

func (b *bench) rrClientArgv(ip string) []string {
	return []string{"taskset", "-c", rrPin[1], b.tool("rr"), "client", "-addr", ip + ":" + rrPort,
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
	base := mean(res[0].gbps)
	var rows [][]string
	for i, v := range vs {
		var rounds []string
		for _, g := range res[i].gbps {
			rounds = append(rounds, fmt.Sprintf("%.2f", g))
		}
		var rt []string
		for _, x := range res[i].retrans {
			rt = append(rt, fmt.Sprint(x))
		}
		rows = append(rows, []string{v.name, strings.Join(rounds, " "), fmt.Sprintf("%.2f", mean(res[i].gbps)),
			ratio(mean(res[i].gbps), base), strings.Join(rt, " ")})
	}
	fmt.Fprintln(b.out)
	table(b.out, []string{"variant", "Gbit/s per round", "mean Gbit/s", "vs bare veth", "retransmits per round"}, rows)
	nori := mean(res[1].gbps)
	fmt.Fprintf(b.out, "target: Nori throughput ≥ 0.95× bare veth: %s (%s)\n", verdict(nori >= 0.95*base), ratio(nori, base))
}

func (b *bench) rrTable(vs []variant, res []dpResult) {
	baseP50 := float64(percentile(res[0].rtts, 50))
	baseP99 := float64(percentile(res[0].rtts, 99))
	var rows [][]string
	for i, v := range vs {
		p50, p99 := percentile(res[i].rtts, 50), percentile(res[i].rtts, 99)
		rounds := slices.Clone(res[i].rrP50s)
		var rs []string
		for _, x := range rounds {
			rs = append(rs, dur(x))
		}
		rows = append(rows, []string{v.name, dur(p50), dur(p99), strings.Join(rs, " "),
			ratio(float64(p50), baseP50), ratio(float64(p99), baseP99)})
	}
	fmt.Fprintln(b.out)
	table(b.out, []string{"variant", "p50", "p99", "p50 per round", "p50 vs bare veth", "p99 vs bare veth"}, rows)
	n50 := float64(percentile(res[1].rtts, 50))
	fmt.Fprintf(b.out, "target: Nori RR latency (p50) ≤ 1.1× bare veth: %s (%s; p99 %s)\n",
		verdict(n50 <= 1.1*baseP50), ratio(n50, baseP50), ratio(float64(percentile(res[1].rtts, 99)), baseP99))
}
