// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/nori-net/nori/tests/harness"
)

// CNI latency parameters: ≥100 timed cycles per network (issue 2), in
// blocks so that machine noise hits every network alike.
const (
	cniCycles = 120
	cniBlock  = 10
	cniWarmup = 5
)

// cniNetwork is one conflist the benchmark drives.
type cniNetwork struct {
	name    string // row label and network name
	plugins string // for the table
	file    string
}

// noriConflist is the default network without portmap: the brief compares
// nori-cni + nori-ipam against bridge + host-local.
func (b *bench) noriConflist() cniNetwork { return b.noriConflistOn(b.host) }

// noriConflistOn is noriConflist for the agent of host h.
func (b *bench) noriConflistOn(h *harness.Host) cniNetwork {
	conf := fmt.Sprintf(`{"cniVersion": "1.0.0", "name": "nori", "plugins": [
  {"type": "nori-cni", "agentSocket": %q, "ipam": {"type": "nori-ipam"}}
]}`, h.Socket)
	return cniNetwork{name: "nori", plugins: "nori-cni + nori-ipam", file: h.WriteConflist(b.t, "bench-nori", conf)}
}

// bridgeConflist is the reference bridge as runtimes configure it by
// default (gateway on the bridge; ipMasq as nerdctl and Podman set it),
// with host-local keeping its state under the host's directory.
func (b *bench) bridgeConflist(name, bridge, subnet string, masq bool) cniNetwork {
	conf := fmt.Sprintf(`{"cniVersion": "1.0.0", "name": %q, "plugins": [
  {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": %t,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]],
            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": %q}}
]}`, name, bridge, masq, subnet, filepath.Join(b.host.Dir, "host-local"))
	plugins := "bridge + host-local"
	if masq {
		plugins = "bridge (ipMasq) + host-local"
	}
	return cniNetwork{name: name, plugins: plugins, file: b.host.WriteConflist(b.t, "bench-"+name, conf)}
}

type cniSamples struct {
	Add []int64 `json:"add"`
	Del []int64 `json:"del"`
}

// cniLatency runs cnidriver latency in the simulated host and prints
// ADD/DEL p50/p99 with ratios Nori/bridge.
func (b *bench) cniLatency() {
	b.t.Helper()
	b.section(fmt.Sprintf("CNI ADD/DEL latency: libcni AddNetworkList/DelNetworkList, %d cycles per network (+%d warm-up), blocks of %d interleaved, fresh netns per cycle (created and deleted untimed)", cniCycles, cniWarmup, cniBlock))
	nets := []cniNetwork{
		b.noriConflist(),
		b.bridgeConflist("bridge", "nbr0", "192.168.77.0/24", true),
		b.bridgeConflist("bridge-nomasq", "nbr1", "192.168.78.0/24", false),
	}
	argv := []string{b.tool("cnidriver"), "latency",
		"-cni-path", b.host.CNIBinDir,
		"-cache-dir", filepath.Join(b.host.Dir, "cni-cache"),
		"-netns-prefix", b.ns + "-cni",
		"-cycles", fmt.Sprint(cniCycles), "-block", fmt.Sprint(cniBlock), "-warmup", fmt.Sprint(cniWarmup)}
	for _, n := range nets {
		argv = append(argv, n.name+"="+n.file)
	}
	c := inNetns(b.host.Netns, argv...)
	fmt.Fprintf(b.out, "command: %s\n", c.line())
	for _, n := range nets {
		fmt.Fprintf(b.out, "conflist %s:\n%s\n", n.name, indent(readFile(b.t, n.file)))
	}
	out, err := c.output(b.ctx)
	if err != nil {
		b.t.Fatal(err)
	}
	var res map[string]cniSamples
	if err := json.Unmarshal(out, &res); err != nil {
		b.t.Fatalf("parse cnidriver output: %v: %s", err, out)
	}

	type stat struct{ addP50, addP99, delP50, delP99 int64 }
	stats := map[string]stat{}
	var rows [][]string
	for _, n := range nets {
		s := res[n.name]
		st := stat{percentile(s.Add, 50), percentile(s.Add, 99), percentile(s.Del, 50), percentile(s.Del, 99)}
		stats[n.name] = st
		rows = append(rows, []string{n.name, n.plugins, fmt.Sprint(len(s.Add)), dur(st.addP50), dur(st.addP99), dur(st.delP50), dur(st.delP99)})
	}
	nori := stats["nori"]
	for _, ref := range nets[1:] {
		r := stats[ref.name]
		rows = append(rows, []string{"nori / " + ref.name, "", "",
			ratio(float64(nori.addP50), float64(r.addP50)), ratio(float64(nori.addP99), float64(r.addP99)),
			ratio(float64(nori.delP50), float64(r.delP50)), ratio(float64(nori.delP99), float64(r.delP99))})
	}
	fmt.Fprintln(b.out)
	table(b.out, []string{"network", "plugins", "cycles", "ADD p50", "ADD p99", "DEL p50", "DEL p99"}, rows)
	br := stats["bridge"]
	fmt.Fprintf(b.out, "target: Nori ADD p50 ≤ bridge ADD p50: %s (%s vs %s; vs bridge without ipMasq: %s)\n",
		verdict(nori.addP50 <= br.addP50), dur(nori.addP50), dur(br.addP50), ratio(float64(nori.addP50), float64(stats["bridge-nomasq"].addP50)))
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
}
