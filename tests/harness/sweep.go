// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// ownerFile records which test process made a switch directory. When that
// process died without running its cleanups (go test -timeout panics, a
// SIGKILL), the next NewSwitch removes what it left.
const ownerFile = "owner.pid"

// writeOwner writes the file atomically: a sweeper in another test process
// must never read it half-written.
func writeOwner(dir string) error {
	tmp := filepath.Join(dir, ownerFile+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, ownerFile))
}

// ownerAlive reports whether the process that made dir still runs. A
// directory without an owner file is being set up right now: leave it.
func ownerAlive(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return true
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return true // not ours to judge: leave it
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// sweepStale removes switches whose test process is gone: processes that
// still reference their directory (shims, conmon, containers' parents) or
// run in their namespaces, their mounts, namespaces and files.
func sweepStale(t testing.TB) {
	t.Helper()
	entries, err := os.ReadDir(runRoot)
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(runRoot, e.Name())
		if !e.IsDir() || ownerAlive(dir) {
			continue
		}
		t.Logf("removing leftovers of a dead test run in %s", dir)
		pids := pidsMatching(dir)
		out, _ := run(nil, "ip", "netns", "list")
		var nsNames []string
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && strings.HasSuffix(f[0], "-"+e.Name()) && (strings.HasPrefix(f[0], "nh-") || strings.HasPrefix(f[0], "nsw-")) {
				nsNames = append(nsNames, f[0])
				if p, err := run(nil, "ip", "netns", "pids", f[0]); err == nil {
					for _, s := range strings.Fields(p) {
						if pid, err := strconv.Atoi(s); err == nil {
							pids = append(pids, pid)
						}
					}
				}
			}
		}
		if err := killPIDs(pids); err != nil {
			t.Logf("sweep %s: %v", dir, err)
		}
		for _, n := range nsNames {
			_, _ = run(nil, "ip", "netns", "del", n)
		}
		if err := unmountAll(dir); err != nil {
			t.Logf("sweep %s: %v", dir, err)
		}
	}
}
