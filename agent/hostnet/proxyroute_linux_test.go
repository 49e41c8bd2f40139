// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package hostnet

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/nori-net/nori/agent/internal/netnstest"
)

// TestProxyRouting installs the proxy's policy routing in a namespace of
// its own: once, again (a restarting agent), and over a stale rule with
// another mark (an upgraded agent), and reads it back with ip(8).
func TestProxyRouting(t *testing.T) {
	w := netnstest.NewWorker(t, netnstest.New(t, "hp"))
	var rules, routes string
	if err := w.Do(func() error {
		if err := ProxyRoutingActive(); err == nil {
			return fmt.Errorf("routing active before setup")
		}
		if err := ensureProxyRouting(0x100, 0xf00); err != nil {
			return err
		}
		for range 2 {
			if err := ensureProxyRouting(0x200, 0xf00); err != nil {
				return err
			}
		}
		if err := ProxyRoutingActive(); err != nil {
			return err
		}
		out, err := exec.Command("ip", "-4", "rule", "show").CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip rule: %v: %s", err, out)
		}
		rules = string(out)
		out, err = exec.Command("ip", "-4", "route", "show", "table", "2004").CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip route: %v: %s", err, out)
		}
		routes = string(out)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(rules, "lookup 2004"); n != 1 {
		t.Fatalf("%d rules for table 2004, want 1:\n%s", n, rules)
	}
	if !strings.Contains(rules, "9:\tfrom all fwmark 0x200/0xf00 lookup 2004") {
		t.Fatalf("no fwmark 0x200/0xf00 rule at priority 9:\n%s", rules)
	}
	if !strings.Contains(routes, "local default dev lo") {
		t.Fatalf("table 2004 lacks the local default route:\n%s", routes)
	}
}
