// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// icmpProber sends ICMP echo requests from inside a container's netns
// through a raw socket opened there: the benchmark process itself probes,
// so a probe costs no process start-up and the timing is its own.
type icmpProber struct {
	fd  int
	id  uint16
	seq uint16
}

// newICMPProber opens a raw ICMP socket in the netns at path. The socket
// stays in that netns after the thread switches back.
func newICMPProber(path string) (*icmpProber, error) {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("open current netns: %w", err)
	}
	defer unix.Close(orig)
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("open netns %s: %w", path, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("enter netns %s: %w", path, err)
	}
	fd, sockErr := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// The thread is in the wrong netns: leave it locked so the
		// runtime retires it instead of reusing it.
		return nil, fmt.Errorf("return to own netns: %w", err)
	}
	runtime.UnlockOSThread()
	if sockErr != nil {
		return nil, fmt.Errorf("open raw icmp socket in %s: %w", path, sockErr)
	}
	return &icmpProber{fd: fd, id: uint16(os.Getpid())}, nil
}

func (p *icmpProber) Close() error { return unix.Close(p.fd) }

// reach sends one echo request every interval until a reply from dst
// arrives or deadline passes, and returns when the reply arrived.
func (p *icmpProber) reach(dst netip.Addr, interval time.Duration, deadline time.Time) (time.Time, error) {
	to := &unix.SockaddrInet4{Addr: dst.As4()}
	tv := unix.NsecToTimeval(interval.Nanoseconds())
	if err := unix.SetsockoptTimeval(p.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return time.Time{}, fmt.Errorf("set receive timeout: %w", err)
	}
	buf := make([]byte, 1500)
	for time.Now().Before(deadline) {
		p.seq++
		if err := unix.Sendto(p.fd, echoRequest(p.id, p.seq), 0, to); err != nil &&
			!errors.Is(err, unix.ENETUNREACH) && !errors.Is(err, unix.EHOSTUNREACH) {
			return time.Time{}, fmt.Errorf("send echo to %s: %w", dst, err)
		}
		sent := time.Now()
		for time.Since(sent) < interval {
			n, from, err := unix.Recvfrom(p.fd, buf, 0)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return time.Time{}, fmt.Errorf("receive: %w", err)
			}
			at := time.Now()
			if sa, ok := from.(*unix.SockaddrInet4); ok && sa.Addr == dst.As4() && isEchoReply(buf[:n], p.id) {
				return at, nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("no echo reply from %s", dst)
}

// echoRequest builds an ICMP echo request with an 8-byte payload.
func echoRequest(id, seq uint16) []byte {
	m := make([]byte, 16)
	m[0] = 8 // echo request
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[8:], "noribnch")
	binary.BigEndian.PutUint16(m[2:], icmpChecksum(m))
	return m
}

// isEchoReply reports whether pkt (IPv4 header + ICMP, as a raw socket
// delivers it) is an echo reply carrying id. Any sequence counts: a late
// reply to an earlier request proves reachability as well.
func isEchoReply(pkt []byte, id uint16) bool {
	if len(pkt) < 20 {
		return false
	}
	ihl := int(pkt[0]&0x0f) * 4
	if len(pkt) < ihl+8 {
		return false
	}
	icmp := pkt[ihl:]
	return icmp[0] == 0 && binary.BigEndian.Uint16(icmp[4:]) == id
}

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestEchoPackets(t *testing.T) {
	req := echoRequest(0x1234, 7)
	if icmpChecksum(req) != 0 {
		t.Fatalf("request checksum does not verify: %x", req)
	}
	reply := func(ihl int, typ byte, id uint16) []byte {
		p := make([]byte, ihl+8)
		p[0] = 0x40 | byte(ihl/4)
		p[ihl] = typ
		binary.BigEndian.PutUint16(p[ihl+4:], id)
		return p
	}
	tests := []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"reply with our id", reply(20, 0, 0x1234), true},
		{"reply with IP options", reply(24, 0, 0x1234), true},
		{"reply with another id", reply(20, 0, 0x4321), false},
		{"our own request echoed back", reply(20, 8, 0x1234), false},
		{"truncated", reply(20, 0, 0x1234)[:24], false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isEchoReply(tt.pkt, 0x1234); got != tt.want {
				t.Errorf("isEchoReply = %v, want %v", got, tt.want)
			}
		})
	}
}
