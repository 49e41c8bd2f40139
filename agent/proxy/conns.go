// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"net"
	"sync"
)

// connTracker knows the HTTP/1.x connections a Server serves and which
// of them wait for a request, so Shutdown can close the idle ones and
// let the busy ones finish.
type connTracker struct {
	mu    sync.Mutex
	conns map[net.Conn]bool // → idle
	stop  bool
}

func newConnTracker() *connTracker { return &connTracker{conns: map[net.Conn]bool{}} }

// add registers c; it reports false (and c must be closed) once the
// server is stopping.
func (t *connTracker) add(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stop {
		return false
	}
	t.conns[c] = false
	return true
}

func (t *connTracker) remove(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

func (t *connTracker) setIdle(c net.Conn, idle bool) {
	t.mu.Lock()
	if _, ok := t.conns[c]; ok {
		t.conns[c] = idle
	}
	t.mu.Unlock()
}

func (t *connTracker) stopping() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stop
}

// closeIdle marks the tracker stopping, closes the idle connections and
// returns how many are still busy.
func (t *connTracker) closeIdle() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stop = true
	busy := 0
	for c, idle := range t.conns {
		if idle {
			c.Close()
			delete(t.conns, c)
		} else {
			busy++
		}
	}
	return busy
}

// closeAll closes every connection.
func (t *connTracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stop = true
	for c := range t.conns {
		c.Close()
		delete(t.conns, c)
	}
}
