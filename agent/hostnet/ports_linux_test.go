// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package hostnet

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/internal/netnstest"
)

// TestPublishPorts installs published ports in a namespace of its own,
// replaces them, and removes the table when nothing is published.
func TestPublishPorts(t *testing.T) {
	w := netnstest.NewWorker(t, netnstest.New(t, "hpp"))
	list := func() string {
		out, _ := exec.Command("nft", "list", "table", "ip", portsTable).CombinedOutput()
		return string(out)
	}
	var first, second, empty string
	if err := w.Do(func() error {
		ep1, ep2 := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.6")
		if err := PublishPorts(map[netip.Addr][]api.PortMapping{
			ep1: {{HostPort: 8081, ContainerPort: 80, Protocol: "tcp"}, {HostPort: 5353, ContainerPort: 53, Protocol: "udp", HostIP: "0.0.0.0"}},
			ep2: {{HostPort: 8443, ContainerPort: 443, HostIP: "192.0.2.1"}, {HostPort: 9000, ContainerPort: 9000, HostIP: "::"}},
		}); err != nil {
			return err
		}
		first = list()
		if err := PublishPorts(map[netip.Addr][]api.PortMapping{ep2: {{HostPort: 8443, ContainerPort: 443}}}); err != nil {
			return err
		}
		second = list()
		if err := PublishPorts(nil); err != nil {
			return err
		}
		empty = list()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"tcp dport 8081 dnat to 10.0.0.5:80",
		"udp dport 5353 dnat to 10.0.0.5:53",
		"ip daddr 192.0.2.1 tcp dport 8443 dnat to 10.0.0.6:443",
		"fib daddr type local jump published",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("table lacks %q:\n%s", want, first)
		}
	}
	if strings.Contains(first, "9000") {
		t.Errorf("an IPv6 host address was forwarded:\n%s", first)
	}
	if strings.Contains(second, "8081") || !strings.Contains(second, "8443") {
		t.Errorf("after replacing the set:\n%s", second)
	}
	if !strings.Contains(empty, "No such file") {
		t.Errorf("with nothing published the table should be gone:\n%s", empty)
	}
}
