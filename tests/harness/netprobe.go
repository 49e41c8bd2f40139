// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Reach is what a TCP probe found. Policy tests must tell a dropped SYN
// (Blocked: the connect times out) from a closed port (Refused: the peer's
// stack answered with a RST), because a policy drop looks like the former.
type Reach string

const (
	Open    Reach = "open"     // connected and the echo came back
	NoReply Reach = "no-reply" // connected, but the echo did not come back
	Refused Reach = "refused"  // RST: nothing listens (or something rejected it)
	Blocked Reach = "blocked"  // no answer to the SYN before the timeout
	Failed  Reach = "failed"   // any other error (no route, netns gone ...)
)

// inNetnsDo runs fn on a thread that entered the network namespace at
// nsPath (/run/netns/NAME or /proc/PID/ns/net), then moves the thread back
// and hands it back to the scheduler. Sockets fn makes stay in the
// namespace and may be used from any goroutine afterwards.
//
// The thread must not simply die locked (the usual shortcut): the agents
// and daemons the harness starts have Pdeathsig set, which fires when the
// *thread* that forked them exits, and that may be this one. Only when
// moving back fails is the thread left locked, to die with its goroutine.
func inNetnsDo(nsPath string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer orig.Close()
		f, err := os.Open(nsPath)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open netns: %w", err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns %s: %w", nsPath, err)
			return
		}
		err = fn()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// DialTCP connects to addr (host:port) from inside the network namespace at
// nsPath, giving up after timeout.
func DialTCP(nsPath, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := inNetnsDo(nsPath, func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	return c, err
}

// ListenTCP listens on addr inside the network namespace at nsPath.
func ListenTCP(nsPath, addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNetnsDo(nsPath, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// ServeEcho answers every connection on ln by echoing lines until the peer
// closes, until ln is closed. It is the test's stand-in for `nc -e cat`
// where no container runs (the world, a host namespace).
func ServeEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			rd := bufio.NewReader(c)
			for {
				line, err := rd.ReadString('\n')
				if err != nil {
					return
				}
				if _, err := c.Write([]byte(line)); err != nil {
					return
				}
			}
		}()
	}
}

// ProbeTCP connects from nsPath to addr, sends one line and waits for it to
// come back (the servers in the tests echo: `nc -ll -p PORT -e cat`).
// timeout bounds the connect and, separately, the echo. The error says
// what happened when the result is not Open.
func ProbeTCP(nsPath, addr string, timeout time.Duration) (Reach, error) {
	c, err := DialTCP(nsPath, addr, timeout)
	if err != nil {
		return classifyDialError(err), err
	}
	defer c.Close()
	msg := fmt.Sprintf("probe-%d\n", time.Now().UnixNano())
	_ = c.SetDeadline(time.Now().Add(timeout + time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return NoReply, fmt.Errorf("write to %s: %w", addr, err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return NoReply, fmt.Errorf("read echo from %s: %w", addr, err)
	}
	if line != msg {
		return NoReply, fmt.Errorf("echo from %s: got %q, want %q", addr, strings.TrimSpace(line), strings.TrimSpace(msg))
	}
	return Open, nil
}

// classifyDialError maps a failed connect onto a Reach.
func classifyDialError(err error) Reach {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.As(err, &ne) && ne.Timeout():
		return Blocked
	default:
		return Failed
	}
}
