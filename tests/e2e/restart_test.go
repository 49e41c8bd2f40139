// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nori-net/nori/tests/harness"
)

// dialFromNetns opens a TCP connection from inside another network
// namespace; the socket stays there once made, so any goroutine may use it.
func dialFromNetns(t *testing.T, nsPath, addr string) net.Conn {
	t.Helper()
	c, err := harness.DialTCP(nsPath, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, nsPath, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestAgentRestartKeepsTraffic kills the agent with SIGKILL while two
// containers exchange messages over one TCP connection, restarts it, and
// checks that no message and no connection was lost, that the endpoints
// come back with their identities, and that a new container connects.
func TestAgentRestartKeepsTraffic(t *testing.T) {
	harness.Require(t, "nerdctl", "busybox-image", "nori-binaries")
	sw := harness.NewSwitch(t)
	h := sw.AddHost(t, "h1")
	agent := h.StartAgent(t)
	h.StartContainerd(t)
	harness.LoadImage(t, "nerdctl", h)

	h.MustNerdctl(t, "run", "-d", "--name", "server", "--net", "nori", "-l", "name=server", harness.BusyboxImage, "nc", "-ll", "-p", "5000", "-e", "cat")
	h.MustNerdctl(t, "run", "-d", "--name", "client", "--net", "nori", "-l", "name=client", harness.BusyboxImage, "sleep", "3600")
	serverIP := containerIP(t, h, "nerdctl", "server")
	pid := strings.TrimSpace(h.MustNerdctl(t, "inspect", "-f", "{{.State.Pid}}", "client"))

	var conn net.Conn
	waitFor(t, 10*time.Second, "server listening", func() error {
		_, err := run("nsenter", "--net=/proc/"+pid+"/ns/net", "nc", "-z", "-w", "1", serverIP, "5000")
		return err
	})
	conn = dialFromNetns(t, "/proc/"+pid+"/ns/net", serverIP+":5000")

	// One message every 10 ms; each must come back within 2 s.
	var sent, echoed atomic.Int64
	var maxGap atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		rd := bufio.NewReader(conn)
		last := time.Now()
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			case <-time.After(10 * time.Millisecond):
			}
			msg := fmt.Sprintf("msg-%d\n", i)
			_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := conn.Write([]byte(msg)); err != nil {
				done <- fmt.Errorf("write %d: %w", i, err)
				return
			}
			sent.Add(1)
			line, err := rd.ReadString('\n')
			if err != nil || line != msg {
				done <- fmt.Errorf("echo %d: %q %v", i, line, err)
				return
			}
			echoed.Add(1)
			if gap := time.Since(last); gap.Milliseconds() > maxGap.Load() {
				maxGap.Store(gap.Milliseconds())
			}
			last = time.Now()
		}
	}()

	time.Sleep(time.Second)
	before := echoed.Load()
	agent.Kill(t)
	t.Logf("agent SIGKILLed after %d echoes", before)
	time.Sleep(3 * time.Second)
	during := echoed.Load() - before
	if during < 50 {
		t.Fatalf("only %d echoes in the 3 s without an agent: traffic stopped", during)
	}
	// A container must also still reach another one it never talked to.
	if out, err := run("nsenter", "--net=/proc/"+pid+"/ns/net", "ping", "-c", "2", "-W", "2", serverIP); err != nil {
		t.Fatalf("ping while the agent is down: %v %s", err, out)
	}

	h.StartAgent(t)
	time.Sleep(time.Second)
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("connection broke across the agent restart after %d echoes: %v", echoed.Load(), err)
	}
	t.Logf("%d messages sent, %d echoed, longest gap %d ms, %d echoes while the agent was down",
		sent.Load(), echoed.Load(), maxGap.Load(), during)
	if sent.Load() != echoed.Load() {
		t.Fatalf("%d messages lost", sent.Load()-echoed.Load())
	}

	// Endpoints came back with their identities; a new container connects.
	eps := endpoints(t, h)
	for _, name := range []string{"server", "client"} {
		ep := findEndpoint(eps, name)
		if ep == nil || ep.Identity < 256 || ep.State != "ready" {
			t.Fatalf("endpoint %s after restart: %+v", name, ep)
		}
	}
	h.MustNerdctl(t, "run", "-d", "--name", "late", "--net", "nori", harness.BusyboxImage, "sleep", "3600")
	out, err := h.Nerdctl(t, "exec", "late", "ping", "-c", "2", "-W", "2", serverIP)
	if err != nil || !strings.Contains(out, ", 0% packet loss") {
		t.Fatalf("new container after restart cannot reach the server: %v %s", err, out)
	}
}
