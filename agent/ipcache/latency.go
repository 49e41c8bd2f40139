// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipcache

import (
	"slices"
	"sync"
	"time"

	"github.com/nori-net/nori/agent/api"
)

// latencies keeps the last samples of propagation time: from an entry's
// creation on its node to its write into this node's datapath. The clocks
// of both nodes are assumed in step (NTP; simulated hosts share one).
type latencies struct {
	mu   sync.Mutex
	buf  []time.Duration
	next int
	full bool
}

func newLatencies(n int) latencies { return latencies{buf: make([]time.Duration, n)} }

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf[l.next] = d
	l.next = (l.next + 1) % len(l.buf)
	if l.next == 0 {
		l.full = true
	}
}

func (l *latencies) samples() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.full {
		return append(slices.Clone(l.buf[l.next:]), l.buf[:l.next]...)
	}
	return slices.Clone(l.buf[:l.next])
}

// Propagation summarises the recorded propagation times.
type Propagation struct {
	// Samples are the last recorded times, oldest first (at most 1024).
	Samples       []time.Duration
	P50, P99, Max time.Duration
}

// Propagation returns the time remote endpoints took from their ipcache
// key's creation to this node's datapath, over the last 1024 entries that
// arrived after the initial sync.
func (s *Syncer) Propagation() Propagation {
	p := Propagation{Samples: s.lat.samples()}
	if len(p.Samples) == 0 {
		return p
	}
	sorted := slices.Clone(p.Samples)
	slices.Sort(sorted)
	p.P50 = quantile(sorted, 0.50)
	p.P99 = quantile(sorted, 0.99)
	p.Max = sorted[len(sorted)-1]
	return p
}

// quantile is the nearest-rank quantile of sorted samples.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// API converts the summary for `nori status -o json`; nil without
// samples.
func (p Propagation) API() *api.PropagationStats {
	if len(p.Samples) == 0 {
		return nil
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return &api.PropagationStats{Samples: len(p.Samples), P50Ms: ms(p.P50), P99Ms: ms(p.P99), MaxMs: ms(p.Max)}
}
