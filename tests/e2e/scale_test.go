// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nori-net/nori/tests/harness"
)

// TestFiftyParallelContainers starts 50 nerdctl containers at once: every
// one gets its own address, all reach each other, and removing them
// returns every address and device.
func TestFiftyParallelContainers(t *testing.T) {
	harness.Require(t, "nerdctl", "busybox-image", "nori-binaries")
	const n = 50
	sw := harness.NewSwitch(t)
	h := sw.AddHost(t, "h1")
	h.StartAgent(t)
	h.StartContainerd(t)
	harness.LoadImage(t, "nerdctl", h)

	names := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		names[i] = fmt.Sprintf("p%02d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = h.Nerdctl(t, "run", "-d", "--name", names[i], "--net", "nori", "-l", "app=scale", harness.BusyboxImage, "sleep", "3600")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("container %s: %v", names[i], err)
		}
	}
	t.Logf("%d containers started in parallel in %s", n, time.Since(start).Round(time.Millisecond))

	ips := map[string]string{}
	pids := make([]string, n)
	for i, name := range names {
		ip := containerIP(t, h, "nerdctl", name)
		if other, dup := ips[ip]; dup {
			t.Fatalf("%s and %s share address %s", name, other, ip)
		}
		ips[ip] = name
		pid, err := h.Nerdctl(t, "inspect", "-f", "{{.State.Pid}}", name)
		if err != nil {
			t.Fatal(err)
		}
		pids[i] = strings.TrimSpace(pid)
	}
	if eps := endpoints(t, h); len(eps) != n {
		t.Fatalf("agent lists %d endpoints, want %d", len(eps), n)
	}
	all := make([]string, 0, n)
	for ip := range ips {
		all = append(all, ip)
	}

	// Full mesh: from every container, one ping to each of the others.
	script := "fail=0; for ip in " + strings.Join(all, " ") + "; do ping -c 1 -W 2 -q $ip >/dev/null 2>&1 || { echo unreachable $ip; fail=1; }; done; exit $fail"
	sem := make(chan struct{}, 4)
	var mu sync.Mutex
	var failures []string
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := run("nsenter", "--net=/proc/"+pids[i]+"/ns/net", "sh", "-c", script)
			if err != nil {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%s: %s", names[i], strings.TrimSpace(out)))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("mesh pings failed:\n%s", strings.Join(failures, "\n"))
	}
	t.Logf("%d×%d pings answered", n, n)

	// Remove them all, in parallel too.
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.Nerdctl(t, "rm", "-f", name); err != nil {
				t.Errorf("rm %s: %v", name, err)
			}
		}()
	}
	wg.Wait()
	waitFor(t, 30*time.Second, "every address and endpoint released", func() error {
		st, err := h.Client().Status(context.Background())
		if err != nil {
			return err
		}
		if st.Endpoints != 0 || st.IPAM.Allocated != 0 {
			return fmt.Errorf("%d endpoints and %d addresses left", st.Endpoints, st.IPAM.Allocated)
		}
		out, _ := h.Exec(t, "ip", "-o", "link", "show")
		if strings.Contains(out, "lxc") {
			return fmt.Errorf("lxc devices left:\n%s", out)
		}
		return nil
	})
}
