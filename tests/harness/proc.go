// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// daemon is a long-running process the harness started and stops by PID.
type daemon struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // set before done closes
}

// startDaemon starts name args in netns (empty: root netns) with stdout and
// stderr appended to logPath. The child gets SIGKILL if the test binary dies,
// so a crashed or timed-out test leaves no agent or containerd behind.
// spawnQueue feeds the one OS thread daemons are forked from. Pdeathsig
// fires when the *thread* that forked a child exits, not the process, and
// Go ends a thread whose goroutine exits while locked to it, which is what
// netns helpers do. Forked from a thread that never exits, a daemon dies
// only with the test process (its purpose), never with a helper's thread.
var spawnQueue = make(chan func())

func init() {
	go func() {
		runtime.LockOSThread() // never unlocked: this thread lives as long as the process
		for f := range spawnQueue {
			f()
		}
	}()
}

// onSpawner runs f on the spawner thread and waits for it.
func onSpawner(f func()) {
	done := make(chan struct{})
	spawnQueue <- func() {
		defer close(done)
		f()
	}
	<-done
}

func startDaemon(netns string, env []string, logPath, name string, args ...string) (*daemon, error) {
	if netns != "" {
		name, args = inNetns(netns, name, args...)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s %s: %s %s\n", time.Now().Format(time.RFC3339Nano), "start", name, strings.Join(args, " "))
	cmd := exec.Command(name, args...)
	if env != nil {
		cmd.Env = env
	}
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var startErr error
	onSpawner(func() { startErr = cmd.Start() })
	if startErr != nil {
		return nil, fmt.Errorf("start %s: %w", name, startErr)
	}
	d := &daemon{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to grace, then SIGKILLs and waits.
func (d *daemon) stop(sig syscall.Signal, grace time.Duration) {
	if d.exited() {
		return
	}
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
		return
	case <-time.After(grace):
	}
	_ = d.cmd.Process.Kill()
	<-d.done
}

// readLog returns the daemon's log file, for t.Log on failure.
func readLog(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", path, err)
	}
	return string(b)
}

// pidsMatching lists processes whose command line contains every needle.
// Used to find what a daemon we started left behind (containerd shims).
func pidsMatching(needles ...string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmdline := strings.ReplaceAll(string(b), "\x00", " ")
		all := true
		for _, n := range needles {
			all = all && strings.Contains(cmdline, n)
		}
		if all {
			pids = append(pids, pid)
		}
	}
	return pids
}

// reapMatching waits up to grace for processes whose command line contains
// every needle to exit on their own (Podman's exit-command cleanup, shims
// finishing), then SIGKILLs what is left. It returns what it had to kill.
func reapMatching(grace time.Duration, needles ...string) ([]int, error) {
	deadline := time.Now().Add(grace)
	for {
		pids := pidsMatching(needles...)
		if len(pids) == 0 {
			return nil, nil
		}
		if time.Now().After(deadline) {
			return pids, killPIDs(pids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killPIDs SIGKILLs pids and waits up to 5 s for them to disappear.
func killPIDs(pids []int) error {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for {
			err := syscall.Kill(pid, 0)
			if errors.Is(err, syscall.ESRCH) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("process %d survived SIGKILL", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}
