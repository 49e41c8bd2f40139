// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package health

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

const protoICMP = 1

// pinger sends ICMP echo requests. Each ping has its own socket, so
// parallel pings to several nodes never wait for each other; replies are
// told apart by echo ID, sequence number and source.
type pinger struct {
	src netip.Addr
	id  int
	seq atomic.Uint32
}

func newPinger(src netip.Addr) *pinger {
	return &pinger{src: src, id: rand.IntN(0xffff) + 1}
}

// ping returns the round-trip time of one echo to dst, waiting until ctx
// ends for the answer.
func (p *pinger) ping(ctx context.Context, dst netip.Addr) (time.Duration, error) {
	laddr := "0.0.0.0"
	if p.src.IsValid() {
		laddr = p.src.String()
	}
	// A raw socket needs CAP_NET_RAW, which the agent has; the datagram
	// kind (ping_group_range) lets a test or a rootless agent ping too,
	// but the kernel then picks the echo ID itself.
	raw := true
	c, err := icmp.ListenPacket("ip4:icmp", laddr)
	if err != nil {
		var err2 error
		if c, err2 = icmp.ListenPacket("udp4", laddr); err2 != nil {
			return 0, fmt.Errorf("open icmp socket: %w", err)
		}
		raw = false
	}
	defer c.Close()
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()

	seq := int(p.seq.Add(1) & 0xffff)
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: p.id, Seq: seq, Data: []byte("nori-health")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return 0, fmt.Errorf("encode echo request: %w", err)
	}
	var to net.Addr = &net.IPAddr{IP: dst.AsSlice()}
	if !raw {
		to = &net.UDPAddr{IP: dst.AsSlice()}
	}
	start := time.Now()
	if _, err := c.WriteTo(b, to); err != nil {
		return 0, fmt.Errorf("send echo request to %s: %w", dst, err)
	}
	buf := make([]byte, 1500)
	for {
		n, peer, err := c.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
				return 0, fmt.Errorf("no echo reply from %s within %s", dst, time.Since(start).Round(time.Millisecond))
			}
			return 0, fmt.Errorf("read echo reply from %s: %w", dst, err)
		}
		m, err := icmp.ParseMessage(protoICMP, buf[:n])
		if err != nil {
			continue
		}
		switch body := m.Body.(type) {
		case *icmp.Echo:
			if m.Type != ipv4.ICMPTypeEchoReply || body.Seq != seq || (raw && body.ID != p.id) || addrOf(peer) != dst {
				continue
			}
			return time.Since(start), nil
		case *icmp.DstUnreach:
			// The error quotes the header of the packet it is about.
			h, err := icmp.ParseIPv4Header(body.Data)
			if err != nil || h.Protocol != protoICMP || !h.Dst.Equal(dst.AsSlice()) {
				continue
			}
			return 0, fmt.Errorf("%s: destination unreachable (code %d) from %s", dst, m.Code, addrOf(peer))
		}
	}
}

func addrOf(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.IPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}
