// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// The crr modes measure like netperf's TCP_CRR: a new connection per
// transaction, a 1-byte request, a 1-byte response, close. Every
// transaction is a new flow, so it shows what a per-flow cost such as a
// policy lookup adds, which a long-lived connection (rr) never sees again
// after its first packet.

// serveCRR answers connections, one transaction each, until killed.
func serveCRR(port int) error {
	ln, err := listen(port, 128)
	if err != nil {
		return err
	}
	defer syscall.Close(ln)
	buf := make([]byte, 1)
	for {
		fd, _, err := syscall.Accept(ln)
		if errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.ECONNABORTED) {
			continue
		}
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		// A client that went away mid-transaction is its problem, not
		// the server's: answer the next one.
		if err := readByte(fd, buf); err == nil {
			_ = writeByte(fd, buf)
		}
		syscall.Close(fd)
	}
}

// clientCRR prints the time of every transaction in ns (JSON).
func clientCRR(addr string, n, warmup int) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("parse address: %w", err)
	}
	sa := &syscall.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	buf := make([]byte, 1)
	times := make([]int64, 0, n)
	for i := 0; i < warmup+n; i++ {
		start := time.Now()
		if err := transaction(sa, buf); err != nil {
			return fmt.Errorf("transaction %d: %w", i, err)
		}
		if i >= warmup {
			times = append(times, time.Since(start).Nanoseconds())
		}
	}
	return json.NewEncoder(os.Stdout).Encode(times)
}

// transaction is one connect, 1-byte exchange and close.
func transaction(sa *syscall.SockaddrInet4, buf []byte) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("create socket: %w", err)
	}
	defer syscall.Close(fd)
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		return fmt.Errorf("set TCP_NODELAY: %w", err)
	}
	for {
		err := syscall.Connect(fd, sa)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil && !errors.Is(err, syscall.EISCONN) { // EISCONN: an interrupted connect completed
			return fmt.Errorf("connect: %w", err)
		}
		break
	}
	if err := writeByte(fd, buf); err != nil {
		return err
	}
	return readByte(fd, buf)
}
