// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"fmt"
	"net"
	"os"
)

// notifyReady tells systemd (Type=notify) that the socket is listening, so
// that dockerd, ordered after this unit, finds the driver at once. Outside
// systemd it does nothing.
func notifyReady() error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("dial notify socket: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("READY=1")); err != nil {
		return fmt.Errorf("write notify socket: %w", err)
	}
	return nil
}
