// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package netnstest gives kernel tests their own network namespaces: one
// per simulated node or container, removed when the test ends, and a
// worker that runs code on an OS thread inside a namespace the way the
// agent runs inside its node's namespace.
package netnstest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
)

var seq atomic.Int64

// New creates a named network namespace with lo up and deletes it when
// the test ends. The name carries the test process's PID, so parallel
// test binaries never collide.
func New(t testing.TB, prefix string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("kernel tests need root (run go test as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("ip is missing (apt-get install -y iproute2): %v", err)
	}
	name := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if _, err := os.Stat("/run/netns/" + name); errors.Is(err, os.ErrNotExist) {
			return // the test removed it itself (a container that went away)
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

func run(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Worker runs functions on one OS thread that sits in a namespace.
type Worker struct {
	fns  chan func()
	dead chan struct{} // closed when the worker's goroutine ends
}

// NewWorker starts a worker in the named namespace; it stops when the
// test ends.
func NewWorker(t testing.TB, name string) *Worker {
	t.Helper()
	w := &Worker{fns: make(chan func()), dead: make(chan struct{})}
	ready := make(chan error)
	go func() {
		defer close(w.dead)
		// The thread never returns to the pool: it is in another
		// namespace, so the goroutine ends with the lock held and Go
		// discards the thread.
		runtime.LockOSThread()
		h, err := netns.GetFromName(name)
		if err == nil {
			err = netns.Set(h)
			h.Close()
		}
		ready <- err
		if err != nil {
			return
		}
		for fn := range w.fns {
			fn()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("enter netns %s: %v", name, err)
	}
	t.Cleanup(func() { close(w.fns) })
	return w
}

// errWorkerGone: fn ended the worker (t.Fatal inside fn ends the
// goroutine that calls it, which is the worker's, not the test's).
var errWorkerGone = errors.New("netns worker ended: a function it ran called t.Fatal or runtime.Goexit")

// Do runs fn inside the namespace and returns its error.
func (w *Worker) Do(fn func() error) error {
	done := make(chan error, 1)
	select {
	case w.fns <- func() {
		err := errWorkerGone
		defer func() { done <- err }()
		err = fn()
	}:
	case <-w.dead:
		return errWorkerGone
	}
	return <-done
}
