// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestProbeTCP checks that the probe tells the outcomes a policy test needs
// apart, in a namespace of its own: an echo server, a closed port (RST), a
// port whose SYNs an nftables rule drops (timeout), a server that never
// answers the line.
func TestProbeTCP(t *testing.T) {
	Require(t, "ip", "nft")
	name := "nprobe-" + randSuffix(3)
	mustRun(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _, _ = run(nil, "ip", "netns", "del", name) })
	mustRun(t, "ip", "-n", name, "link", "set", "lo", "up")
	ns := "/run/netns/" + name

	echo, err := ListenTCP(ns, "127.0.0.1:7001")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go ServeEcho(echo)

	mute, err := ListenTCP(ns, "127.0.0.1:7002")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()

	dropped, err := ListenTCP(ns, "127.0.0.1:7003")
	if err != nil {
		t.Fatal(err)
	}
	defer dropped.Close()
	mustRun(t, "ip", "netns", "exec", name, "nft", "add table inet probe; add chain inet probe in { type filter hook input priority 0; }; add rule inet probe in tcp dport 7003 drop")

	// The listener must not be reachable from the root namespace.
	if c, err := net.DialTimeout("tcp", "127.0.0.1:7001", 200*time.Millisecond); err == nil {
		c.Close()
		t.Log("note: something listens on 127.0.0.1:7001 in the root netns; the probe below must still use the test's netns")
	}

	tests := []struct {
		addr string
		want Reach
	}{
		{"127.0.0.1:7001", Open},
		{"127.0.0.1:7009", Refused},
		{"127.0.0.1:7003", Blocked},
		{"127.0.0.1:7002", NoReply},
	}
	for _, tt := range tests {
		t.Run(string(tt.want), func(t *testing.T) {
			start := time.Now()
			got, err := ProbeTCP(ns, tt.addr, 300*time.Millisecond)
			if got != tt.want {
				t.Fatalf("ProbeTCP(%s) = %s (%v), want %s", tt.addr, got, err, tt.want)
			}
			if tt.want == Blocked && time.Since(start) > 2*time.Second {
				t.Errorf("blocked probe took %s, want about the 300 ms timeout", time.Since(start))
			}
		})
	}
	if _, err := ProbeTCP("/run/netns/does-not-exist-"+randSuffix(3), "127.0.0.1:7001", time.Second); err == nil {
		t.Error("probe from a missing netns succeeded")
	}
}

// TestProbeKeepsDaemons: daemons get SIGKILL when the thread that started
// them exits (Pdeathsig). Probes must hand their threads back instead of
// letting them die, or a probe kills whatever agent was forked from the
// thread it happened to lock.
func TestProbeKeepsDaemons(t *testing.T) {
	name := "nprobe-" + randSuffix(3)
	mustRun(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _, _ = run(nil, "ip", "netns", "del", name) })
	mustRun(t, "ip", "-n", name, "link", "set", "lo", "up")
	var ds []*daemon
	for range 8 {
		d, err := startDaemon("", nil, filepath.Join(t.TempDir(), "sleep.log"), "sleep", "60")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.stop(syscall.SIGKILL, 0) })
		ds = append(ds, d)
	}
	for range 100 {
		_, _ = ProbeTCP("/run/netns/"+name, "127.0.0.1:7009", 100*time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	for i, d := range ds {
		if d.exited() {
			t.Fatalf("daemon %d died while probes ran: %v", i, d.err)
		}
	}
}
