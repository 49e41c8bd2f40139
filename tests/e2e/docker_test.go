// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/tests/harness"
)

// TestDocker is the start of issue 6: the seed's Docker commands through
// nori-docker on simulated host d1 (Debian's dockerd, its own data and
// exec roots), Podman and nerdctl containers on d2, one etcd. A Docker
// container joins the overlay with its Docker labels as identity, reaches
// both on the other host and back, survives its own restart and one of
// the driver, takes a second Nori
// network, gets the seed's TLS termination from a Docker server, publishes
// a port with -p, and leaves no endpoint or address behind, also when
// dockerd restarts.
func TestDocker(t *testing.T) {
	harness.Require(t, "dockerd", "docker", "podman", "nerdctl", "busybox-image", "nori-binaries", "etcd")
	sw := harness.NewSwitch(t)
	d1, d2 := sw.AddHost(t, "d1"), sw.AddHost(t, "d2")
	etcd := sw.StartEtcd(t)
	certDir := t.TempDir() // before the agents: removed after they stop
	for _, h := range []*harness.Host{d1, d2} {
		h.StartAgent(t, "--kvstore", "etcd", "--kvstore-opt", "etcd.address="+etcd.Address(), "--certificates-directory", certDir)
	}
	dd := d1.StartDockerd(t)
	harness.LoadImage(t, "docker", d1)
	harness.LoadImage(t, "podman", d2)
	d2.StartContainerd(t)
	harness.LoadImage(t, "nerdctl", d2)
	nd := d1.StartNoriDocker(t)
	allocated := func() int {
		var st api.Status
		mustJSON(t, noriCLI(t, d1, "status", "-o", "json"), &st)
		return st.IPAM.Allocated
	}
	before := allocated()

	// The seed's commands.
	d1.MustDocker(t, "network", "create", "--driver", "nori", "--ipam-driver", "nori", "nori-net")
	d1.MustDocker(t, "run", "-d", "--name", "app1", "--net", "nori-net", "-l", "name=app1", harness.BusyboxImage, "sleep", "1000000")
	d2.MustPodman(t, "run", "-d", "--name", "app2", "--network", "nori", "-l", "name=app2", harness.BusyboxImage,
		"httpd", "-f", "-p", "8080", "-h", "/var/www")
	d2.MustNerdctl(t, "run", "-d", "--name", "app5", "--net", "nori", "-l", "name=app5", harness.BusyboxImage, "sleep", "1000000")
	app1, app2 := containerIP(t, d1, "docker", "app1"), containerIP(t, d2, "podman", "app2")
	app5 := containerIP(t, d2, "nerdctl", "app5")

	var ep api.Endpoint
	waitFor(t, 15*time.Second, "app1 in d1's nori endpoint list with container:name=app1 and an identity", func() error {
		for _, e := range endpoints(t, d1) {
			if e.IPv4 != app1 {
				continue
			}
			if e.State != api.StateReady || e.Identity < 256 || !strings.Contains(strings.Join(e.Labels, ","), "container:name=app1") {
				return fmt.Errorf("endpoint %d: state %s, identity %d, labels %v", e.ID, e.State, e.Identity, e.Labels)
			}
			ep = e
			return nil
		}
		return fmt.Errorf("no endpoint with %s in %v", app1, endpoints(t, d1))
	})
	t.Logf("docker container app1 %s: nori endpoint %d %q, identity %d, labels %v, runtime %s", app1, ep.ID, ep.Name, ep.Identity, ep.Labels, ep.Runtime)
	if ep.Name != "app1" {
		t.Errorf("endpoint name %q, want the Docker container's name app1", ep.Name)
	}

	waitFor(t, 30*time.Second, "app1 (Docker, d1) pings app2 (Podman, d2)", func() error {
		out, err := d1.Docker(t, "exec", "app1", "ping", "-c", "1", "-W", "1", app2)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	if out, err := d1.Docker(t, "exec", "app1", "sh", "-c", `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 `+app2+` 8080`); err != nil || !strings.HasPrefix(out, "HTTP/1.") {
		t.Errorf("app1 → app2:8080 over TCP: want an HTTP answer from app2's httpd, got %q (%v)", out, err)
	}
	if out, err := d2.Podman(t, "exec", "app2", "ping", "-c", "1", "-W", "2", app1); err != nil {
		t.Errorf("app2 (Podman, d2) → app1 (Docker, d1): %v: %s", err, out)
	}
	if out, err := d1.Docker(t, "exec", "app1", "ping", "-c", "1", "-W", "2", app5); err != nil {
		t.Errorf("app1 (Docker, d1) → app5 (nerdctl, d2): %v: %s", err, out)
	}
	if out, err := d2.Nerdctl(t, "exec", "app5", "ping", "-c", "1", "-W", "2", app1); err != nil {
		t.Errorf("app5 (nerdctl, d2) → app1 (Docker, d1): %v: %s", err, out)
	}

	// A container restart: Docker leaves and joins again; the container
	// keeps reaching the other host and the old endpoint goes.
	d1.MustDocker(t, "restart", "-t", "1", "app1")
	app1 = containerIP(t, d1, "docker", "app1")
	waitFor(t, 15*time.Second, "app1 reaches app2 again after docker restart, with one endpoint", func() error {
		if n := len(endpoints(t, d1)); n != 1 {
			return fmt.Errorf("%d endpoints on d1, want 1", n)
		}
		if out, err := d1.Docker(t, "exec", "app1", "ping", "-c", "1", "-W", "1", app2); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})

	// nori-docker restarts: running containers keep their traffic (the
	// driver is not in the data path) and new ones still join.
	nd.Stop(t)
	if out, err := d1.Docker(t, "exec", "app1", "ping", "-c", "1", "-W", "2", app2); err != nil {
		t.Errorf("app1 → app2 while nori-docker is stopped: %v: %s", err, out)
	}
	nd = d1.StartNoriDocker(t)
	d1.MustDocker(t, "run", "-d", "--name", "app3", "--net", "nori-net", "-l", "name=app3", harness.BusyboxImage, "sleep", "1000000")
	app3 := containerIP(t, d1, "docker", "app3")
	waitFor(t, 15*time.Second, "app3, started after nori-docker restarted, reaches app2", func() error {
		out, err := d1.Docker(t, "exec", "app3", "ping", "-c", "1", "-W", "1", app2)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})

	// A second Nori network in the same container: no "file exists"
	// clash, and the container keeps reaching the other host.
	d1.MustDocker(t, "network", "create", "--driver", "nori", "--ipam-driver", "nori", "nori-net2")
	if out, err := d1.Docker(t, "network", "connect", "nori-net2", "app3"); err != nil {
		t.Errorf("docker network connect nori-net2 app3: %v: %s", err, out)
	}
	if out, err := d1.Docker(t, "exec", "app3", "ping", "-c", "1", "-W", "2", app2); err != nil {
		t.Errorf("app3 → app2 with two Nori networks: %v: %s", err, out)
	}
	waitFor(t, 15*time.Second, "every Docker endpoint on d1 (app3 has two) has its labels and identity", func() error {
		eps := endpoints(t, d1)
		if len(eps) != 3 {
			return fmt.Errorf("%d endpoints, want 3 (app1, app3 twice)", len(eps))
		}
		for _, e := range eps {
			if e.State != api.StateReady {
				return fmt.Errorf("endpoint %d (%s, network %s): %s, labels %v", e.ID, e.Name, e.Network, e.State, e.Labels)
			}
		}
		return nil
	})
	if out, err := d1.Docker(t, "network", "disconnect", "nori-net2", "app3"); err != nil {
		t.Errorf("docker network disconnect nori-net2 app3: %v: %s", err, out)
	}
	t.Logf("app3 %s on nori-net, connected to and disconnected from nori-net2", app3)

	// A container on one of Docker's own bridge networks first, then on
	// nori-net too: whichever network Docker gives the default route,
	// the other nodes' share of the cluster pool is routed through Nori's
	// router, so the other host's endpoints stay reachable.
	d1.MustDocker(t, "network", "create", "--driver", "bridge", "--subnet", "192.168.231.0/24", "nbr")
	d1.MustDocker(t, "run", "-d", "--name", "dual", "--net", "nbr", "-l", "name=dual", harness.BusyboxImage, "sleep", "1000000")
	d1.MustDocker(t, "network", "connect", "nori-net", "dual")
	var d1st api.Status
	mustJSON(t, noriCLI(t, d1, "status", "-o", "json"), &d1st)
	routes := d1.MustDocker(t, "exec", "dual", "ip", "route")
	if got := d1.MustDocker(t, "exec", "dual", "ip", "route", "get", app2); !strings.Contains(got, "via "+d1st.IPAM.Router+" ") {
		t.Errorf("dual (bridge + nori-net): app2 on the other host (%s) should be routed via Nori's router %s, got %q; routes:\n%s",
			app2, d1st.IPAM.Router, got, routes)
	}
	waitFor(t, 15*time.Second, "dual (Docker bridge + nori-net) reaches app2 on the other host", func() error {
		out, err := d1.Docker(t, "exec", "dual", "ping", "-c", "1", "-W", "1", app2)
		if err != nil {
			return fmt.Errorf("%v: %s; routes:\n%s", err, out, routes)
		}
		return nil
	})
	t.Logf("dual on nbr and nori-net, routes:\n%s", routes)
	d1.MustDocker(t, "rm", "-f", "dual")
	d1.MustDocker(t, "network", "rm", "nbr")

	// The seed's TLS termination between Docker containers: web (label
	// name=app2) serves plain HTTP on 443, app1 speaks HTTPS to it.
	d1.MustDocker(t, "run", "-d", "--name", "web", "--net", "nori-net", "-l", "name=app2", harness.BusyboxImage,
		"httpd", "-f", "-p", "443", "-h", "/var/www")
	web := containerIP(t, d1, "docker", "web")
	pki := newProxyPKI(t, web)
	writeSecretIn(t, []string{certDir}, tlsSecret, map[string][]byte{"tls.crt": pki.read(t, pki.server.Cert), "tls.key": pki.read(t, pki.server.Key)})
	noriCLI(t, d1, "policy", "import", examplePolicy("tls-termination.json"))
	t.Cleanup(func() { noriCLI(t, d1, "policy", "delete", "--all") })
	pid := strings.TrimSpace(d1.MustDocker(t, "inspect", "-f", "{{.State.Pid}}", "app1"))
	waitFor(t, 15*time.Second, "curl --insecure https://web/ from app1 (both Docker) answers 200 through the agent's proxy", func() error {
		out, err := run("nsenter", "--net=/proc/"+pid+"/ns/net", "curl", "-sS", "--insecure", "--max-time", "3",
			"-o", "/dev/null", "-w", "%{http_code}", "https://"+web+"/")
		if err != nil || strings.TrimSpace(out) != "200" {
			return fmt.Errorf("%q %v", out, err)
		}
		return nil
	})
	var st api.Status
	mustJSON(t, noriCLI(t, d1, "status", "-o", "json"), &st)
	if st.Proxy == nil || st.Proxy.Forwarded == 0 {
		t.Errorf("nori status on d1: want forwarded requests through the proxy, got %+v", st.Proxy)
	}
	// The agent learns a Docker container's sandbox with its labels, so
	// web's redirects are served by a listener inside web's own netns.
	if st.Proxy == nil || st.Proxy.NetnsListeners == 0 {
		t.Errorf("nori status on d1: want a proxy listener inside web's netns, got %+v", st.Proxy)
	}
	noriCLI(t, d1, "policy", "delete", "--all")

	// -p: the agent publishes the port on the node for the driver;
	// another host reaches it through d1's underlay address.
	d1.MustDocker(t, "run", "-d", "--name", "pub", "--net", "nori-net", "-p", "8081:80", "-l", "name=pub", harness.BusyboxImage,
		"httpd", "-f", "-p", "80", "-h", "/var/www")
	waitFor(t, 15*time.Second, fmt.Sprintf("http://%s:8081/ from d2's host answers 200 (docker run -p 8081:80 on d1)", d1.Underlay), func() error {
		out, err := run("nsenter", "--net="+d2.Netns, "curl", "-sS", "--max-time", "3", "-o", "/dev/null", "-w", "%{http_code}",
			fmt.Sprintf("http://%s:8081/", d1.Underlay))
		if err != nil || strings.TrimSpace(out) != "200" {
			return fmt.Errorf("%q %v", out, err)
		}
		return nil
	})
	d1.MustDocker(t, "rm", "-f", "pub")

	// dockerd restarts: its containers stop with it (no live-restore),
	// and their endpoints and addresses must not outlive them; a new
	// container joins afterwards.
	dd.Restart(t)
	waitFor(t, 30*time.Second, "no endpoint and no address of the stopped containers left on d1 after dockerd restarted", func() error {
		if eps := endpoints(t, d1); len(eps) != 0 {
			return fmt.Errorf("endpoints left: %v", eps)
		}
		if n := allocated(); n != before {
			return fmt.Errorf("IPAM allocated %d, %d before the network", n, before)
		}
		return nil
	})
	d1.MustDocker(t, "run", "-d", "--name", "app4", "--net", "nori-net", "-l", "name=app4", harness.BusyboxImage, "sleep", "1000000")
	waitFor(t, 15*time.Second, "app4, started after dockerd restarted, reaches app2", func() error {
		out, err := d1.Docker(t, "exec", "app4", "ping", "-c", "1", "-W", "1", app2)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})

	// Removing the containers and the networks leaves nothing behind.
	d1.MustDocker(t, "rm", "-f", "app1", "app3", "web", "app4")
	d1.MustDocker(t, "network", "rm", "nori-net", "nori-net2")
	waitFor(t, 10*time.Second, "no endpoint, no address and no veth left on d1", func() error {
		if eps := endpoints(t, d1); len(eps) != 0 {
			return fmt.Errorf("endpoints left: %v", eps)
		}
		if n := allocated(); n != before {
			return fmt.Errorf("IPAM allocated %d, %d before the network", n, before)
		}
		out, err := run("ip", "-n", d1.NetnsName, "-o", "link", "show")
		if err != nil {
			return err
		}
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 1 && (strings.HasPrefix(f[1], "lxc") || strings.HasPrefix(f[1], "tmp")) {
				return fmt.Errorf("link left: %s", l)
			}
		}
		return nil
	})
}
