// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Command crr measures TCP connect/request/response latency like netperf's
// TCP_CRR: a new connection per transaction, a 1-byte request, a 1-byte
// response, close. Every transaction is a new flow, so it shows what a
// per-flow cost such as a policy lookup adds, which a long-lived
// connection (rr) never sees again after its first packet.
//
//	crr server -port P                     answer connections until killed
//	crr client -addr IP:P -n N -warmup W   print every transaction in ns (JSON)
//
// Blocking socket system calls on a locked thread, as in rr.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"time"
)

func main() {
	runtime.LockOSThread()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: crr server|client [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	port := fs.Int("port", 5203, "server port")
	addr := fs.String("addr", "", "server IP:port (client)")
	n := fs.Int("n", 2000, "timed transactions")
	warmup := fs.Int("warmup", 100, "untimed transactions first")
	_ = fs.Parse(os.Args[2:])

	var err error
	switch os.Args[1] {
	case "server":
		err = serve(*port)
	case "client":
		err = client(*addr, *n, *warmup)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "crr %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func serve(port int) error {
	ln, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("create socket: %w", err)
	}
	defer syscall.Close(ln)
	if err := syscall.SetsockoptInt(ln, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("set SO_REUSEADDR: %w", err)
	}
	if err := syscall.Bind(ln, &syscall.SockaddrInet4{Port: port}); err != nil {
		return fmt.Errorf("bind port %d: %w", port, err)
	}
	if err := syscall.Listen(ln, 128); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Println("ready")
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

func client(addr string, n, warmup int) error {
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

func writeByte(fd int, buf []byte) error {
	for {
		_, err := syscall.Write(fd, buf)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}
}

func readByte(fd int, buf []byte) error {
	for {
		m, err := syscall.Read(fd, buf)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if m == 0 {
			return fmt.Errorf("read: connection closed")
		}
		return nil
	}
}
