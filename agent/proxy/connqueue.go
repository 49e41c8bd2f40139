// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"net"
	"sync"
)

// connQueue is a net.Listener fed by the server with connections that
// already completed their TLS handshake and chose HTTP/2, so that
// net/http's server (which speaks HTTP/2 only from its own Serve) takes
// them over.
type connQueue struct {
	addr net.Addr
	ch   chan net.Conn

	mu     sync.Mutex
	closed bool
	done   chan struct{}
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to Accept; false when the queue is closed.
func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }
