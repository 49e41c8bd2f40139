// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/tests/harness"
)

// TestNerdctlAndPodman is issue 2's single-host acceptance run the way a
// user runs it: nerdctl (`--net nori`) and Podman (`--network nori`, CNI
// backend) containers on one host get addresses from the node CIDR, reach
// each other (ping, TCP), the host, the outside world (masqueraded) and
// port-published services, and show their labels in `nori endpoint list`.
func TestNerdctlAndPodman(t *testing.T) {
	harness.Require(t, "nerdctl", "podman", "busybox-image", "nori-binaries")
	sw := harness.NewSwitch(t)
	h := sw.AddHost(t, "h1")
	world := sw.AddWorld(t)
	h.StartAgent(t)
	h.StartContainerd(t)
	harness.LoadImage(t, "nerdctl", h)
	harness.LoadImage(t, "podman", h)

	// The outside world serves a page over HTTP; it has no route to the
	// cluster pool, so only masqueraded traffic can get an answer.
	wwwDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(wwwDir, "index.html"), []byte("hello from the world\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startWorldHTTPD(t, world, wwwDir, 8000)

	img := harness.BusyboxImage
	h.MustNerdctl(t, "run", "-d", "--name", "app1", "--hostname", "app1", "--net", "nori", "-l", "name=app1", "-l", "tier=web",
		"-p", "8080:80", img, "httpd", "-f", "-p", "80", "-h", "/etc")
	h.MustPodman(t, "run", "-d", "--name", "app2", "--network", "nori", "-l", "name=app2",
		img, "sh", "-c", "nc -ll -p 5000 -e cat & httpd -f -p 80 -h /etc")

	ip1 := containerIP(t, h, "nerdctl", "app1")
	ip2 := containerIP(t, h, "podman", "app2")
	st, err := h.Client().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cidr := netip.MustParsePrefix(st.IPAM.CIDR)
	for _, ip := range []string{ip1, ip2} {
		if !cidr.Contains(netip.MustParseAddr(ip)) {
			t.Fatalf("container address %s outside the node CIDR %s", ip, cidr)
		}
	}
	t.Logf("app1 (nerdctl) %s, app2 (podman) %s, node CIDR %s", ip1, ip2, cidr)

	nerdctlExec := func(args ...string) (string, error) {
		return h.Nerdctl(t, append([]string{"exec", "app1"}, args...)...)
	}
	podmanExec := func(args ...string) (string, error) {
		return h.Podman(t, append([]string{"exec", "app2"}, args...)...)
	}
	mustOut := func(what string, want string, out string, err error) {
		t.Helper()
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("%s: want %q, got %q (err %v)", what, want, out, err)
		}
	}

	out, err := nerdctlExec("ping", "-c", "3", "-W", "2", ip2)
	mustOut("ping nerdctl → podman", ", 0% packet loss", out, err)
	out, err = podmanExec("ping", "-c", "3", "-W", "2", ip1)
	mustOut("ping podman → nerdctl", ", 0% packet loss", out, err)
	out, err = nerdctlExec("sh", "-c", "echo tcp-ok | nc -w 3 "+ip2+" 5000")
	mustOut("TCP nerdctl → podman (echo)", "tcp-ok", out, err)
	out, err = podmanExec("sh", "-c", httpGet(ip1, 80, "/hostname"))
	mustOut("HTTP podman → nerdctl", "200 OK", out, err)

	// The host: its underlay address and the node router (the gateway).
	out, err = nerdctlExec("ping", "-c", "2", "-W", "2", h.Underlay.String())
	mustOut("ping container → host", ", 0% packet loss", out, err)
	out, err = podmanExec("ping", "-c", "2", "-W", "2", st.IPAM.Router)
	mustOut("ping container → router", ", 0% packet loss", out, err)
	out, err = h.Exec(t, "ping", "-c", "2", "-W", "2", ip2)
	mustOut("ping host → container", ", 0% packet loss", out, err)

	// The world, masqueraded to the node address.
	for name, ex := range map[string]func(...string) (string, error){"nerdctl": nerdctlExec, "podman": podmanExec} {
		out, err = ex("sh", "-c", httpGet(world.Underlay.String(), 8000, "/"))
		mustOut(name+" container → world (masquerade)", "hello from the world", out, err)
	}

	// A port-published service, reached from the world through the host.
	out, err = world.Exec(t, "curl", "-sS", "-m", "5", fmt.Sprintf("http://%s:8080/hostname", h.Underlay))
	mustOut("world → host:8080 → app1:80 (-p)", "app1", out, err)

	// Labels and names from each runtime, as `nori endpoint list` shows them.
	waitFor(t, 15*time.Second, "labels of both containers resolved", func() error {
		eps := endpoints(t, h)
		for _, want := range []struct{ name, label string }{{"app1", "container:name=app1"}, {"app2", "container:name=app2"}} {
			ep := findEndpoint(eps, want.name)
			if ep == nil {
				return fmt.Errorf("no endpoint named %s in %+v", want.name, eps)
			}
			if ep.State != api.StateReady || !slices.Contains(ep.Labels, want.label) || ep.Identity < 256 {
				return fmt.Errorf("endpoint %s: state %s labels %v identity %d", want.name, ep.State, ep.Labels, ep.Identity)
			}
		}
		return nil
	})
	list := noriCLI(t, h, "endpoint", "list")
	for _, want := range []string{"container:name=app1", "container:tier=web", "container:name=app2", "app1", "app2", ip1, ip2, "ready"} {
		if !strings.Contains(list, want) {
			t.Errorf("nori endpoint list lacks %q:\n%s", want, list)
		}
	}
	if strings.Contains(list, "nerdctl/") || strings.Contains(list, "io.podman") {
		t.Errorf("runtime-internal labels leaked into identities:\n%s", list)
	}
	t.Logf("nori endpoint list:\n%s", list)

	// Removing the containers frees their addresses and devices.
	h.MustNerdctl(t, "rm", "-f", "app1")
	h.MustPodman(t, "rm", "-f", "-t", "0", "app2")
	waitFor(t, 20*time.Second, "endpoints and addresses released", func() error {
		st, err := h.Client().Status(context.Background())
		if err != nil {
			return err
		}
		if st.Endpoints != 0 || st.IPAM.Allocated != 0 {
			return fmt.Errorf("%d endpoints, %d addresses still allocated", st.Endpoints, st.IPAM.Allocated)
		}
		return nil
	})
}

func findEndpoint(eps []api.Endpoint, name string) *api.Endpoint {
	for i := range eps {
		if eps[i].Name == name {
			return &eps[i]
		}
	}
	return nil
}

// containerIP asks the runtime for a container's address on the nori
// network.
func containerIP(t *testing.T, h *harness.Host, runtime, name string) string {
	t.Helper()
	var out string
	var err error
	format := "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
	switch runtime {
	case "nerdctl":
		out, err = h.Nerdctl(t, "inspect", "-f", format, name)
	case "docker":
		out, err = h.Docker(t, "inspect", "-f", format, name)
	default:
		out, err = h.Podman(t, "inspect", "-f", format, name)
	}
	ip := strings.TrimSpace(out)
	if err != nil || ip == "" {
		t.Fatalf("%s inspect %s: %q %v", runtime, name, out, err)
	}
	return ip
}

// startWorldHTTPD serves dir on port in the world's namespace until the
// test ends.
func startWorldHTTPD(t *testing.T, world *harness.Host, dir string, port int) {
	t.Helper()
	// busybox httpd daemonizes without -f; -f keeps it in the foreground
	// so it can be stopped by PID.
	out, err := run("sh", "-c", fmt.Sprintf("nsenter --net=%s busybox httpd -f -p %d -h %s >/dev/null 2>&1 & echo $!", world.Netns, port, dir))
	if err != nil {
		t.Fatalf("start world httpd: %v", err)
	}
	pid := strings.TrimSpace(out)
	t.Cleanup(func() { _, _ = run("kill", pid) })
	waitFor(t, 5*time.Second, "world httpd up", func() error {
		_, err := world.Exec(t, "curl", "-sSf", "-o", "/dev/null", "-m", "1", fmt.Sprintf("http://127.0.0.1:%d/", port))
		return err
	})
}

// httpGet is a shell line that fetches path with busybox nc: the image's
// static busybox wget crashes in glibc's resolver even for literal
// addresses.
func httpGet(host string, port int, path string) string {
	return fmt.Sprintf(`printf 'GET %s HTTP/1.0\r\n\r\n' | nc -w 5 %s %d`, path, host, port)
}
