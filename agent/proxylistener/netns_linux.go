// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxylistener

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nori-net/nori/agent/proxy"
)

// A socket belongs to the network namespace of the thread that created
// it, for good: once made, it is used from any goroutine like any other.
// So only socket(2) runs on a thread moved into the endpoint's netns.

// upstreamConnectTimeout bounds a dial inside an endpoint's netns whose
// context has no deadline (net.Dialer's Timeout in the node's dialer).
const upstreamConnectTimeout = 10 * time.Second

// socketIn returns a non-blocking TCP/IPv4 socket created in the network
// namespace ns. home is the agent's own namespace, to which the thread
// returns; a thread that cannot return is left locked, so the runtime
// ends it instead of reusing it in the wrong namespace.
func socketIn(ns, home *os.File) (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("enter endpoint netns: %w", err)}
			return
		}
		// Plain TCP, not MPTCP: the socket map refuses MPTCP sockets.
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		if err != nil {
			err = fmt.Errorf("socket in endpoint netns: %w", err)
		}
		if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}

// listenIn opens a listener on 127.0.0.1 (any port) inside ns. Flows reach
// it by socket assignment (bpf/proxy.c) whatever its address; loopback
// keeps it closed to everything else. IP_FREEBIND lets the bind succeed
// before the runtime has brought the namespace's lo up.
func listenIn(ns, home *os.File) (*net.TCPListener, error) {
	fd, err := socketIn(ns, home)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "nori-proxy-listener")
	defer f.Close()
	if err := unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_FREEBIND, 1); err != nil {
		return nil, fmt.Errorf("set IP_FREEBIND: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return nil, fmt.Errorf("bind proxy listener in endpoint netns: %w", err)
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		return nil, fmt.Errorf("listen in endpoint netns: %w", err)
	}
	ln, err := net.FileListener(f) // a dup; f's own descriptor is closed
	if err != nil {
		return nil, fmt.Errorf("proxy listener in endpoint netns: %w", err)
	}
	return ln.(*net.TCPListener), nil
}

// dialerIn returns the upstream dialer of a listener inside ns: the
// application is then reached over the namespace's own loopback, as from
// a sidecar, and its policy does not judge the proxy's connection again
// (the datapath judged the client's).
func dialerIn(ns, home *os.File) proxy.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || !ap.Addr().Is4() || (network != "tcp" && network != "tcp4") {
			return nil, fmt.Errorf("dial %s %s in endpoint netns: want a TCP/IPv4 address", network, addr)
		}
		fd, err := socketIn(ns, home)
		if err != nil {
			return nil, err
		}
		f := os.NewFile(uintptr(fd), "nori-proxy-upstream") // pollable: fd is non-blocking
		defer f.Close()
		if err := connect(ctx, f, fd, ap); err != nil {
			return nil, fmt.Errorf("dial %s in endpoint netns: %w", addr, err)
		}
		return net.FileConn(f) // a dup; f's own descriptor is closed
	}
}

// connect connects f's socket to ap without blocking a thread: a
// non-blocking connect, then a wait in the runtime's poller for the
// socket to become writable, as net.Dialer does. fd is f's descriptor
// (f.Fd would put it back in blocking mode).
func connect(ctx context.Context, f *os.File, fd int, ap netip.AddrPort) error {
	err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()})
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINPROGRESS) {
		return err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(upstreamConnectTimeout)
	}
	if err := f.SetWriteDeadline(deadline); err != nil {
		return err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var connErr error
	if err := rc.Write(func(fd uintptr) bool {
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			connErr = err
			return true
		case v != 0:
			connErr = syscall.Errno(v)
			return true
		}
		// No error and no peer yet: still connecting, wait for it.
		_, err = unix.Getpeername(int(fd))
		return err == nil
	}); err != nil {
		return err
	}
	return connErr
}
