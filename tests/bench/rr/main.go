// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Command rr measures TCP request/response latency like netperf's TCP_RR:
// one connection, a 1-byte request, a 1-byte response, repeated; and, in
// the crr modes, like TCP_CRR: a new connection per transaction.
//
//	rr server -port P                         echo one connection, then exit
//	rr client -addr IP:P -n N -warmup W       print every round trip in ns (JSON)
//	rr crr-server -port P                     answer connections until killed
//	rr crr-client -addr IP:P -n N -warmup W   print every transaction in ns (JSON)
//
// It uses blocking socket system calls on a locked thread instead of Go's
// netpoller: with the netpoller every reply costs a goroutine wake-up, and
// on two vCPUs that scheduling noise dominated the measurement
// (research/spike.md §3).
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
		fmt.Fprintln(os.Stderr, "usage: rr server|client|crr-server|crr-client [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	port := fs.Int("port", 5201, "server port")
	addr := fs.String("addr", "", "server IP:port (client)")
	n := fs.Int("n", 20000, "timed round trips")
	warmup := fs.Int("warmup", 1000, "untimed round trips first")
	_ = fs.Parse(os.Args[2:])

	var err error
	switch os.Args[1] {
	case "server":
		err = serve(*port)
	case "client":
		err = client(*addr, *n, *warmup)
	case "crr-server":
		err = serveCRR(*port)
	case "crr-client":
		err = clientCRR(*addr, *n, *warmup)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "rr %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func serve(port int) error {
	ln, err := listen(port, 1)
	if err != nil {
		return err
	}
	defer syscall.Close(ln)
	fd, _, err := syscall.Accept(ln)
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	defer syscall.Close(fd)
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		return fmt.Errorf("set TCP_NODELAY: %w", err)
	}
	buf := make([]byte, 1)
	for {
		m, err := syscall.Read(fd, buf)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if m == 0 {
			return nil
		}
		if err := writeByte(fd, buf); err != nil {
			return err
		}
	}
}

// listen opens a listening TCP socket on port and tells the parent, which
// waits for the line "ready" before it starts a client.
func listen(port, backlog int) (int, error) {
	ln, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("create socket: %w", err)
	}
	if err := syscall.SetsockoptInt(ln, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		syscall.Close(ln)
		return 0, fmt.Errorf("set SO_REUSEADDR: %w", err)
	}
	if err := syscall.Bind(ln, &syscall.SockaddrInet4{Port: port}); err != nil {
		syscall.Close(ln)
		return 0, fmt.Errorf("bind port %d: %w", port, err)
	}
	if err := syscall.Listen(ln, backlog); err != nil {
		syscall.Close(ln)
		return 0, fmt.Errorf("listen: %w", err)
	}
	fmt.Println("ready")
	return ln, nil
}

func client(addr string, n, warmup int) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("parse address: %w", err)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("create socket: %w", err)
	}
	defer syscall.Close(fd)
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		return fmt.Errorf("set TCP_NODELAY: %w", err)
	}
	if err := syscall.Connect(fd, &syscall.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err != nil {
		return fmt.Errorf("connect %s: %w", addr, err)
	}
	buf := make([]byte, 1)
	rtts := make([]int64, 0, n)
	for i := 0; i < warmup+n; i++ {
		start := time.Now()
		if err := writeByte(fd, buf); err != nil {
			return err
		}
		if err := readByte(fd, buf); err != nil {
			return err
		}
		if i >= warmup {
			rtts = append(rtts, time.Since(start).Nanoseconds())
		}
	}
	return json.NewEncoder(os.Stdout).Encode(rtts)
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
