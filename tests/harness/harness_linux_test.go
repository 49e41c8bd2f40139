// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// bridgeConflist is a reference bridge network, to prove that CNI runs from
// nerdctl's hook and from Podman with the host's --cni-path/conf dir.
// ipMasq lets containers reach the other hosts' underlay addresses.
func bridgeConflist(name, bridge, subnet, dataDir string) string {
	return `{"cniVersion":"1.0.0","name":"` + name + `","plugins":[{"type":"bridge","bridge":"` + bridge +
		`","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"` + subnet +
		`"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"` + dataDir + `"}}]}`
}

// TestHarness proves the harness without nori: a switch with two hosts and
// the world, underlay pings, nerdctl with its own containerd on one host and
// podman on the other, all under nsenter --net, and a complete cleanup.
func TestHarness(t *testing.T) {
	var sw *Switch
	t.Run("hosts", func(t *testing.T) {
		sw = NewSwitch(t)
		a := sw.AddHost(t, "a")
		b := sw.AddHost(t, "b")
		world := sw.AddWorld(t)

		if a.Underlay.String() != "172.30.0.1" || b.Underlay.String() != "172.30.0.2" || world.Underlay.String() != "172.30.0.254" {
			t.Fatalf("underlay addresses: a=%s b=%s world=%s", a.Underlay, b.Underlay, world.Underlay)
		}
		for _, p := range []struct{ from, to *Host }{{a, b}, {b, a}, {a, world}, {world, b}} {
			p.from.MustExec(t, "ping", "-c1", "-W2", p.to.Underlay.String())
		}
		for _, h := range []*Host{a, b} {
			if got := strings.TrimSpace(h.MustExec(t, "sysctl", "-n", "net.ipv4.ip_forward")); got != "1" {
				t.Errorf("host %s ip_forward = %q", h.Name, got)
			}
			var st unix.Statfs_t
			if err := unix.Statfs(h.BPFRoot, &st); err != nil || st.Type != unix.BPF_FS_MAGIC {
				t.Errorf("host %s: %s is not a bpffs (%v)", h.Name, h.BPFRoot, err)
			}
			checkConflist(t, h)
		}

		t.Run("nerdctl", func(t *testing.T) {
			a.StartContainerd(t)
			LoadImage(t, "nerdctl", a)
			out, err := a.Nerdctl(t, "run", "--rm", "--net", "none", BusyboxImage, "echo", "ok")
			if err != nil || strings.TrimSpace(out) != "ok" {
				t.Fatalf("nerdctl run --net none: %q, %v", out, err)
			}
			a.WriteConflist(t, "50-testbr", bridgeConflist("testbr", "tbr0", "192.168.200.0/24", filepath.Join(a.Dir, "ipam")))
			out, err = a.Nerdctl(t, "run", "--rm", "--net", "testbr", BusyboxImage,
				"sh", "-c", "ip -4 addr show eth0 && ping -c1 -W2 192.168.200.1 && ping -c1 -W2 "+b.Underlay.String())
			if err != nil {
				t.Fatalf("nerdctl run --net testbr: %v", err)
			}
			if !strings.Contains(out, "inet 192.168.200.") {
				t.Errorf("nerdctl container has no testbr address:\n%s", out)
			}
			// Left running on purpose: cleanup must remove it.
			a.MustNerdctl(t, "run", "-d", "--name", "left", "--net", "testbr", BusyboxImage, "sleep", "600")
		})

		t.Run("podman", func(t *testing.T) {
			LoadImage(t, "podman", b)
			out, err := b.Podman(t, "run", "--rm", "--network", "none", BusyboxImage, "echo", "ok")
			if err != nil || strings.TrimSpace(out) != "ok" {
				t.Fatalf("podman run --network none: %q, %v", out, err)
			}
			b.WriteConflist(t, "50-testbr", bridgeConflist("testbr", "tbr0", "192.168.201.0/24", filepath.Join(b.Dir, "ipam")))
			out, err = b.Podman(t, "run", "--rm", "--network", "testbr", BusyboxImage,
				"sh", "-c", "ip -4 addr show eth0 && ping -c1 -W2 192.168.201.1 && ping -c1 -W2 "+a.Underlay.String())
			if err != nil {
				t.Fatalf("podman run --network testbr: %v", err)
			}
			if !strings.Contains(out, "inet 192.168.201.") {
				t.Errorf("podman container has no testbr address:\n%s", out)
			}
			b.MustPodman(t, "run", "-d", "--name", "left", "--network", "testbr", BusyboxImage, "sleep", "600")
		})

		t.Run("docker", func(t *testing.T) {
			b.StartDockerd(t)
			LoadImage(t, "docker", b)
			out, err := b.Docker(t, "run", "--rm", "--net", "none", BusyboxImage, "echo", "ok")
			if err != nil || strings.TrimSpace(out) != "ok" {
				t.Fatalf("docker run --net none: %q, %v", out, err)
			}
			b.MustDocker(t, "run", "-d", "--name", "left", "--net", "none", BusyboxImage, "sleep", "600")
		})
	})
	if sw == nil {
		t.Fatal("no switch was created")
	}
	checkNoLeftovers(t, sw)
}

func checkConflist(t *testing.T, h *Host) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(h.CNIConfDir, ConflistName))
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		CNIVersion string           `json:"cniVersion"`
		Name       string           `json:"name"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatalf("host %s conflist: %v", h.Name, err)
	}
	if list.Name != "nori" || len(list.Plugins) == 0 || list.Plugins[0]["agentSocket"] != h.Socket {
		t.Errorf("host %s conflist does not point at %s:\n%s", h.Name, h.Socket, raw)
	}
	for _, p := range []string{"nori-cni", "nori-ipam", "bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Lstat(filepath.Join(h.CNIBinDir, p)); err != nil {
			t.Errorf("host %s: CNI plugin %s not linked: %v", h.Name, p, err)
		}
	}
}

// checkNoLeftovers verifies that the switch's cleanup left no namespace,
// mount, process or directory behind.
func checkNoLeftovers(t *testing.T, sw *Switch) {
	t.Helper()
	out := mustRun(t, "ip", "netns", "list")
	if strings.Contains(out, sw.Rand) {
		t.Errorf("namespaces left:\n%s", out)
	}
	mps, err := mountsUnder(sw.RunDir)
	if err != nil || len(mps) > 0 {
		t.Errorf("mounts left: %v %v", mps, err)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), sw.Rand) {
		t.Errorf("mountinfo still mentions %s", sw.Rand)
	}
	if pids := pidsMatching(sw.RunDir); len(pids) > 0 {
		t.Errorf("processes left: %v", pids)
	}
	if fileExists(sw.RunDir) {
		t.Errorf("%s left", sw.RunDir)
	}
}
