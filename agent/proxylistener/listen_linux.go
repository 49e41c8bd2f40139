// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxylistener

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenTransparent opens a TCP listener on addr that may accept
// connections for addresses that are not the node's (IP_TRANSPARENT):
// without it the SYN-ACK from a container's address cannot be routed and
// the connection never completes (research/spike.md §5).
func listenTransparent(ctx context.Context, addr string) (*net.TCPListener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("set IP_TRANSPARENT: %w", serr)
		}
		return nil
	}}
	// Go listeners are MPTCP by default, and the socket map refuses MPTCP
	// sockets ("operation not supported").
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(ctx, "tcp4", addr)
	if err != nil {
		return nil, fmt.Errorf("listen transparent on %s: %w", addr, err)
	}
	return ln.(*net.TCPListener), nil
}
