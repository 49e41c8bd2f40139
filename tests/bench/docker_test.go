// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"fmt"
	"strconv"
	"time"

	"github.com/nori-net/nori/tests/harness"
)

// Docker (issue 6): the time of `docker run --rm --net NET busybox true`
// on a Nori network (nori-docker) beside the same on a network of
// Docker's own bridge driver (the anchor), alternated run by run on one
// simulated host's dockerd.
const (
	dockerRuns   = 20
	dockerWarmup = 2
	// dockerBridgeSubnet keeps the anchor's bridge clear of Nori's pool.
	dockerBridgeSubnet = "192.168.77.0/24"
)

func (b *bench) docker() {
	b.t.Helper()
	b.section(fmt.Sprintf("Docker: `docker run --rm --net NET busybox true`, %d runs per network (+%d warm-up), networks alternated", dockerRuns, dockerWarmup))
	harness.Require(b.t, "dockerd", "docker", "busybox-image")
	h := harness.NewSwitch(b.t).AddHost(b.t, "dock")
	h.StartAgent(b.t)
	h.StartDockerd(b.t)
	harness.LoadImage(b.t, "docker", h)
	h.StartNoriDocker(b.t)
	h.MustDocker(b.t, "network", "create", "--driver", "nori", "--ipam-driver", "nori", "nori-net")
	h.MustDocker(b.t, "network", "create", "--driver", "bridge", "--subnet", dockerBridgeSubnet, "bench-bridge")
	nets := []string{"nori-net", "bench-bridge"}
	fmt.Fprintf(b.out, "host %s: dockerd (its own data and exec roots) with nori-docker; networks: nori-net (--driver nori --ipam-driver nori), bench-bridge (--driver bridge --subnet %s)\n", h, dockerBridgeSubnet)
	fmt.Fprintf(b.out, "command: nsenter --net=HOST_NETNS docker --host DOCKER_SOCKET run --rm --net NET %s true (wall time of the CLI)\n", harness.BusyboxImage)

	samples := map[string][]int64{}
	for i := range dockerWarmup + dockerRuns {
		for j := range nets {
			n := nets[(i+j)%len(nets)]
			start := time.Now()
			if out, err := h.Docker(b.t, "run", "--rm", "--net", n, harness.BusyboxImage, "true"); err != nil {
				b.t.Fatalf("docker run --rm --net %s: %v: %s", n, err, out)
			}
			if i >= dockerWarmup {
				samples[n] = append(samples[n], time.Since(start).Nanoseconds())
			}
		}
		b.checkInterrupted()
	}
	base := float64(percentile(samples["bench-bridge"], 50))
	var rows [][]string
	for _, n := range nets {
		s := samples[n]
		rows = append(rows, []string{n, strconv.Itoa(len(s)), dur(percentile(s, 50)), dur(percentile(s, 99)),
			ratio(float64(percentile(s, 50)), base)})
	}
	fmt.Fprintln(b.out)
	table(b.out, []string{"network", "runs", "p50", "p99", "p50 vs bridge"}, rows)
	nori := float64(percentile(samples["nori-net"], 50))
	fmt.Fprintf(b.out, "target: docker run on a Nori network p50 ≤ 1.1× Docker's bridge: %s (%s: %s vs %s)\n",
		verdict(nori <= 1.1*base), ratio(nori, base), dur(int64(nori)), dur(int64(base)))
}
