// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Idle upstream connections, as nginx's upstream keepalive: enough for a
// busy port, gone after a while.
const (
	maxIdlePerKey   = 64
	maxIdleKeys     = 1024
	upstreamIdleFor = 90 * time.Second
)

// upKey separates pooled connections: by destination, by mark (the
// client's identity travels in it) and, for originating TLS, by the
// verified server name.
type upKey struct {
	dst  netip.AddrPort
	mark uint32
	name string
	tls  bool
}

// upConn is one connection to an original destination.
type upConn struct {
	key  upKey
	c    net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	idle time.Time // when it went back to the pool
}

// upPool keeps idle upstream connections for reuse by the HTTP/1.1 path.
type upPool struct {
	h *handler

	mu     sync.Mutex
	idle   map[upKey][]*upConn
	closed bool
}

func newUpPool(h *handler) *upPool { return &upPool{h: h, idle: map[upKey][]*upConn{}} }

// get returns an idle connection for k (reused true) or dials one.
func (p *upPool) get(ctx context.Context, k upKey) (c *upConn, reused bool, err error) {
	now := time.Now()
	p.mu.Lock()
	for list := p.idle[k]; len(list) > 0; list = p.idle[k] {
		c = list[len(list)-1]
		p.idle[k] = list[:len(list)-1]
		if now.Sub(c.idle) < upstreamIdleFor {
			break
		}
		c.c.Close()
		c = nil
	}
	if len(p.idle[k]) == 0 {
		delete(p.idle, k)
	}
	p.mu.Unlock()
	if c != nil {
		return c, true, nil
	}
	c, err = p.dial(ctx, k)
	return c, false, err
}

func (p *upPool) dial(ctx context.Context, k upKey) (*upConn, error) {
	raw, err := p.h.dialer(k.mark)(ctx, "tcp", k.dst.String())
	if err != nil {
		return nil, err
	}
	var c net.Conn = raw
	if k.tls {
		// Built per dial so a renewed CA or client certificate is used.
		cfg, err := ClientTLS(p.h.certs, p.h.originating, k.name)
		if err != nil {
			raw.Close()
			return nil, err
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("tls handshake with upstream %s: %w", k.dst, err)
		}
		c = tc
	}
	return &upConn{key: k, c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096)}, nil
}

// put returns a connection whose last response was read in full.
func (p *upPool) put(c *upConn) {
	c.idle = time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[c.key]
	if p.closed || len(list) >= maxIdlePerKey || (list == nil && len(p.idle) >= maxIdleKeys) {
		c.c.Close()
		return
	}
	p.idle[c.key] = append(list, c)
}

// closeIdle closes every idle connection; with stop, later puts close
// theirs too.
func (p *upPool) closeIdle(stop bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = p.closed || stop
	for k, list := range p.idle {
		for _, c := range list {
			c.c.Close()
		}
		delete(p.idle, k)
	}
}
