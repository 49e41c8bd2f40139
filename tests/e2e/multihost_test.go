// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/tests/harness"
)

// cluster is three simulated hosts sharing one store, each running
// containers from a different runtime.
type cluster struct {
	sw     *harness.Switch
	hosts  []*harness.Host
	agents []*harness.Agent
	etcd   *harness.Etcd
	ctrs   []ctr
}

// ctr is a container of the cluster and how to run commands in it.
type ctr struct {
	host    *harness.Host
	runtime string
	name    string
	ip      string
	pid     string
}

func (c ctr) exec(t *testing.T, args ...string) (string, error) {
	return run("nsenter", append([]string{"--net=/proc/" + c.pid + "/ns/net"}, args...)...)
}

// newCluster starts three hosts. store "etcd" shares Debian's etcd-server,
// "etcd-tls" the same requiring client certificates (etcd.config=FILE);
// "embedded" has host 1's embedded store serve hosts 2 and 3, the seed's
// two-host setup without an operator.
func newCluster(t *testing.T, store string, extra ...string) *cluster {
	harness.Require(t, "nerdctl", "podman", "busybox-image", "nori-binaries")
	c := &cluster{sw: harness.NewSwitch(t)}
	for _, name := range []string{"h1", "h2", "h3"} {
		c.hosts = append(c.hosts, c.sw.AddHost(t, name))
	}
	var args [][]string
	switch store {
	case "etcd":
		c.etcd = c.sw.StartEtcd(t)
		for range c.hosts {
			args = append(args, []string{"--kvstore", "etcd", "--kvstore-opt", "etcd.address=" + c.etcd.Address()})
		}
	case "etcd-tls":
		c.etcd = c.sw.StartEtcdTLS(t)
		for range c.hosts {
			args = append(args, []string{"--kvstore", "etcd", "--kvstore-opt", "etcd.config=" + c.etcd.ConfigFile})
		}
	case "embedded":
		h1 := c.hosts[0].Underlay.String()
		args = append(args, []string{"--kvstore", "embedded", "--kvstore-listen", h1 + ":2379"})
		for range c.hosts[1:] {
			args = append(args, []string{"--kvstore", "etcd", "--kvstore-opt", "etcd.address=" + h1 + ":2379"})
		}
	}
	for i, h := range c.hosts {
		c.agents = append(c.agents, h.StartAgent(t, append(args[i], extra...)...))
	}
	// nerdctl on h1 and h3, podman on h2.
	runtimes := []string{"nerdctl", "podman", "nerdctl"}
	for i, h := range c.hosts {
		name := fmt.Sprintf("c%d", i+1)
		cmd := []string{harness.BusyboxImage, "nc", "-ll", "-p", "5000", "-e", "cat"}
		var pid string
		if runtimes[i] == "nerdctl" {
			h.StartContainerd(t)
			harness.LoadImage(t, "nerdctl", h)
			h.MustNerdctl(t, append([]string{"run", "-d", "--name", name, "--net", "nori", "-l", "name=" + name}, cmd...)...)
			pid = strings.TrimSpace(h.MustNerdctl(t, "inspect", "-f", "{{.State.Pid}}", name))
		} else {
			harness.LoadImage(t, "podman", h)
			h.MustPodman(t, append([]string{"run", "-d", "--name", name, "--network", "nori", "-l", "name=" + name}, cmd...)...)
			pid = strings.TrimSpace(h.MustPodman(t, "inspect", "-f", "{{.State.Pid}}", name))
		}
		c.ctrs = append(c.ctrs, ctr{host: h, runtime: runtimes[i], name: name, ip: containerIP(t, h, runtimes[i], name), pid: pid})
	}
	return c
}

// waitHealthy waits until every host lists every node and reports all of
// them reachable.
func (c *cluster) waitHealthy(t *testing.T, timeout time.Duration) {
	t.Helper()
	n := len(c.hosts)
	waitFor(t, timeout, fmt.Sprintf("cluster health %d/%d on every host", n, n), func() error {
		for _, h := range c.hosts {
			st, err := h.Client().Status(context.Background())
			if err != nil {
				return err
			}
			if st.KVStore.State != "Ok" {
				return fmt.Errorf("%s: KVStore %s: %s", h.Name, st.KVStore.State, st.KVStore.Message)
			}
			want := fmt.Sprintf("%d/%d reachable", n, n)
			if st.ClusterHealth == nil || !strings.Contains(st.ClusterHealth.Message, want) {
				return fmt.Errorf("%s: cluster health %+v, want %s", h.Name, st.ClusterHealth, want)
			}
		}
		return nil
	})
}

// checkMesh pings and exchanges a TCP message between every ordered pair.
func (c *cluster) checkMesh(t *testing.T) {
	t.Helper()
	for _, a := range c.ctrs {
		for _, b := range c.ctrs {
			if a.name == b.name {
				continue
			}
			if out, err := a.exec(t, "ping", "-c", "2", "-W", "2", b.ip); err != nil || !strings.Contains(out, ", 0% packet loss") {
				t.Fatalf("ping %s(%s) → %s(%s): %v\n%s", a.name, a.host.Name, b.name, b.host.Name, err, out)
			}
			msg := fmt.Sprintf("from-%s-to-%s", a.name, b.name)
			out, err := a.exec(t, "sh", "-c", fmt.Sprintf("echo %s | busybox nc -w 3 %s 5000", msg, b.ip))
			if err != nil || !strings.Contains(out, msg) {
				t.Fatalf("TCP %s(%s) → %s(%s): %v %q", a.name, a.host.Name, b.name, b.host.Name, err, out)
			}
		}
	}
}

func (c *cluster) checkNodeList(t *testing.T) {
	t.Helper()
	for _, h := range c.hosts {
		out := noriCLI(t, h, "node", "list")
		for _, o := range c.hosts {
			if !strings.Contains(out, o.Name) || !strings.Contains(out, o.Underlay.String()) {
				t.Fatalf("nori node list on %s lacks %s (%s):\n%s", h.Name, o.Name, o.Underlay, out)
			}
		}
		var nodes []api.Node
		mustJSON(t, noriCLI(t, h, "node", "list", "-o", "json"), &nodes)
		cidrs := map[string]bool{}
		for _, n := range nodes {
			if n.IPv4CIDR == "" || cidrs[n.IPv4CIDR] {
				t.Fatalf("node %s has CIDR %q (duplicate or empty) on %s", n.Name, n.IPv4CIDR, h.Name)
			}
			cidrs[n.IPv4CIDR] = true
		}
		if len(nodes) != len(c.hosts) {
			t.Fatalf("%s lists %d nodes, want %d", h.Name, len(nodes), len(c.hosts))
		}
	}
}

func TestMultiHostSharedEtcd(t *testing.T) {
	c := newCluster(t, "etcd")
	c.waitHealthy(t, 60*time.Second)
	c.checkNodeList(t)
	c.checkMesh(t)
	t.Logf("status on h1:\n%s", noriCLI(t, c.hosts[0], "status"))
	t.Logf("bpf tunnel list on h1:\n%s", noriCLI(t, c.hosts[0], "bpf", "tunnel", "list"))

	// etcd goes away for 30 s: traffic that flows keeps flowing, agents
	// report it, and recover without a restart when it returns.
	a, b := c.ctrs[0], c.ctrs[1]
	conn := dialFromNetns(t, "/proc/"+a.pid+"/ns/net", net.JoinHostPort(b.ip, "5000"))
	var echoed atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		rd := bufio.NewReader(conn)
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			case <-time.After(50 * time.Millisecond):
			}
			msg := fmt.Sprintf("m%d\n", i)
			_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
			if _, err := conn.Write([]byte(msg)); err != nil {
				done <- err
				return
			}
			if line, err := rd.ReadString('\n'); err != nil || line != msg {
				done <- fmt.Errorf("echo %d: %q %v", i, line, err)
				return
			}
			echoed.Add(1)
		}
	}()
	c.etcd.Stop(t)
	stoppedAt := time.Now()
	waitFor(t, 30*time.Second, "agents report the store as failing", func() error {
		for _, h := range c.hosts {
			st, err := h.Client().Status(context.Background())
			if err != nil {
				return err
			}
			if st.KVStore.State == "Ok" {
				return fmt.Errorf("%s still reports KVStore Ok", h.Name)
			}
		}
		return nil
	})
	// h2's agent dies and starts again while etcd is still away: it
	// resumes from its state dir (node.json, endpoint records, pinned
	// maps) instead of waiting for etcd, and traffic keeps flowing.
	c.agents[1].Kill(t)
	restarted := time.Now()
	c.agents[1] = c.hosts[1].StartAgent(t, "--kvstore", "etcd", "--kvstore-opt", "etcd.address="+c.etcd.Address())
	t.Logf("h2's agent restarted and ready in %s with etcd down", time.Since(restarted).Round(100*time.Millisecond))
	var h2eps []api.Endpoint
	mustJSON(t, noriCLI(t, c.hosts[1], "endpoint", "list", "-o", "json"), &h2eps)
	if len(h2eps) != 1 || h2eps[0].IPv4 != c.ctrs[1].ip || h2eps[0].Identity < 256 {
		t.Fatalf("h2 restored endpoints %+v, want its container %s with its identity", h2eps, c.ctrs[1].ip)
	}
	if st, err := c.hosts[1].Client().Status(context.Background()); err != nil || st.KVStore.State == "Ok" {
		t.Fatalf("h2 status while etcd is down: %+v, %v", st, err)
	}
	if _, err := c.ctrs[1].exec(t, "ping", "-c", "1", "-W", "2", c.ctrs[2].ip); err != nil {
		t.Fatalf("h2's container lost h3 after its agent restarted without etcd: %v", err)
	}
	time.Sleep(time.Until(stoppedAt.Add(30 * time.Second)))
	before := echoed.Load()
	time.Sleep(time.Second)
	if echoed.Load() == before {
		t.Fatal("cross-host traffic stopped while etcd was down")
	}
	for i, ag := range c.agents {
		if ag.Exited() {
			t.Fatalf("agent on %s exited while etcd was down", c.hosts[i].Name)
		}
	}
	c.etcd.Start(t)
	c.waitHealthy(t, 60*time.Second)
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("the connection across hosts broke during the etcd outage: %v", err)
	}
	t.Logf("%d echoes across hosts during and after a 30 s etcd outage", echoed.Load())

	// The agent that started without etcd registered once it came back:
	// a container started on h2 now is reachable from h1.
	c.hosts[1].MustPodman(t, "run", "-d", "--name", "late2", "--network", "nori", harness.BusyboxImage, "sleep", "3600")
	late2IP := containerIP(t, c.hosts[1], "podman", "late2")
	waitFor(t, 10*time.Second, "new container on h2 reachable from h1", func() error {
		_, err := c.ctrs[0].exec(t, "ping", "-c", "1", "-W", "1", late2IP)
		return err
	})

	// A container created after the outage is reachable from the others:
	// the agents resynced.
	late := "late"
	c.hosts[2].MustNerdctl(t, "run", "-d", "--name", late, "--net", "nori", harness.BusyboxImage, "sleep", "3600")
	lateIP := containerIP(t, c.hosts[2], "nerdctl", late)
	waitFor(t, 10*time.Second, "new container on h3 reachable from h1", func() error {
		_, err := c.ctrs[0].exec(t, "ping", "-c", "1", "-W", "1", lateIP)
		return err
	})

	// A host that goes away: its entries vanish from the others within the
	// lease TTL (15 s).
	gone := c.hosts[2]
	c.agents[2].Kill(t)
	killed := time.Now()
	waitFor(t, 30*time.Second, "h3 gone from h1 and h2", func() error {
		for _, h := range c.hosts[:2] {
			if out := noriCLI(t, h, "node", "list"); strings.Contains(out, gone.Name) {
				return fmt.Errorf("%s still lists %s", h.Name, gone.Name)
			}
			if out := noriCLI(t, h, "bpf", "ipcache", "list"); strings.Contains(out, gone.Underlay.String()) || strings.Contains(out, c.ctrs[2].ip+"/32") {
				return fmt.Errorf("%s still has ipcache entries of %s:\n%s", h.Name, gone.Name, out)
			}
		}
		return nil
	})
	t.Logf("h3's entries gone from h1 and h2 %s after its agent was killed", time.Since(killed).Round(100*time.Millisecond))

	// It comes back with the same name: same CIDR, reachable again.
	c.agents[2] = gone.StartAgent(t, "--kvstore", "etcd", "--kvstore-opt", "etcd.address="+c.etcd.Address())
	c.waitHealthy(t, 60*time.Second)
	var after []api.Node
	mustJSON(t, noriCLI(t, c.hosts[0], "node", "list", "-o", "json"), &after)
	for _, n := range after {
		if n.Name == gone.Name && !strings.HasPrefix(c.ctrs[2].ip, strings.TrimSuffix(n.IPv4CIDR, "0/24")) {
			t.Fatalf("%s came back with CIDR %s; its container %s had the old one", n.Name, n.IPv4CIDR, c.ctrs[2].ip)
		}
	}
	if _, err := c.ctrs[0].exec(t, "ping", "-c", "2", "-W", "2", c.ctrs[2].ip); err != nil {
		t.Fatalf("container on the returned host unreachable: %v", err)
	}
}

func TestMultiHostEmbeddedStoreServes(t *testing.T) {
	c := newCluster(t, "embedded")
	c.waitHealthy(t, 60*time.Second)
	c.checkNodeList(t)
	c.checkMesh(t)
}

// TestMultiHostNativeRouting runs the cluster with --tunnel=disabled: the
// hosts share one L2 segment and the kernel routes node CIDRs via the
// owning host, with the same maps and the same agent.
func TestMultiHostNativeRouting(t *testing.T) {
	c := newCluster(t, "embedded", "--tunnel", "disabled")
	c.waitHealthy(t, 60*time.Second)
	c.checkMesh(t)
	out, err := c.hosts[0].Exec(t, "ip", "-o", "link", "show", "nori_vxlan")
	if err == nil {
		t.Fatalf("nori_vxlan exists with --tunnel=disabled: %s", out)
	}
	routes := c.hosts[0].MustExec(t, "ip", "route", "show", "proto", "78")
	for _, h := range c.hosts[1:] {
		if !strings.Contains(routes, "via "+h.Underlay.String()) {
			t.Fatalf("no native route via %s on h1:\n%s", h.Underlay, routes)
		}
	}
}

// TestMultiHostEtcdTLS: the agents reach an etcd that requires client
// certificates through a Cilium-style etcd.config file.
func TestMultiHostEtcdTLS(t *testing.T) {
	c := newCluster(t, "etcd-tls")
	c.waitHealthy(t, 60*time.Second)
	c.checkNodeList(t)
	c.checkMesh(t)
	st, err := c.hosts[1].Client().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.KVStore.Message, "https://") {
		t.Fatalf("KVStore is not using TLS: %s", st.KVStore.Message)
	}
}
