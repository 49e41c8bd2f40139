// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// addNetns creates a named netns with lo up and removes it on cleanup.
func (b *bench) addNetns(name string) string {
	b.t.Helper()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		b.t.Fatalf("create netns %s: %v: %s", name, err, out)
	}
	b.t.Cleanup(func() { delNetns(b.t, name) })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		b.t.Fatalf("netns %s: set lo up: %v: %s", name, err, out)
	}
	return "/run/netns/" + name
}

// delNetns kills what still runs in a netns of ours, then deletes it.
func delNetns(t testing.TB, name string) {
	if _, err := os.Stat("/run/netns/" + name); errors.Is(err, os.ErrNotExist) {
		return
	}
	if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		t.Errorf("delete netns %s: %v: %s", name, err, out)
	}
}

// removeNetns deletes every netns whose name starts with prefix (what an
// interrupted cnidriver may have left).
func removeNetns(t testing.TB, prefix string) {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			delNetns(t, e.Name())
		}
	}
}

// sweepStaleNetns removes namespaces of earlier runs whose process is gone
// (a SIGKILLed benchmark runs no cleanup).
func sweepStaleNetns(t testing.TB) {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			t.Logf("removing netns %s of a dead benchmark run", e.Name())
			delNetns(t, e.Name())
		}
	}
}

func readFile(t testing.TB, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}
