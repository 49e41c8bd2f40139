// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/nori-net/nori/agent/datapath/bpfobj"
)

// monotonicNow is CLOCK_MONOTONIC in nanoseconds, the clock of
// bpf_ktime_get_ns and so of conntrack expiries.
func monotonicNow() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("read monotonic clock: %w", err)
	}
	return ts.Nano(), nil
}

// ListCT returns every conntrack entry, expired ones included (their
// Expires is not positive).
func (d *Datapath) ListCT() ([]CTEntry, error) {
	now, err := monotonicNow()
	if err != nil {
		return nil, fmt.Errorf("list conntrack: %w", err)
	}
	var (
		k   bpfobj.DatapathNoriCtKey
		v   bpfobj.DatapathNoriCtValue
		out []CTEntry
	)
	it := d.objs.NoriCt.Iterate()
	for it.Next(&k, &v) {
		out = append(out, ctFromBPF(k, v, now))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list conntrack: %w", err)
	}
	return out, nil
}

// GCConntrack deletes the expired conntrack entries and returns how many
// it deleted. The datapath already ignores them; collecting them frees
// room in the LRU map for live flows.
func (d *Datapath) GCConntrack() (int, error) {
	now, err := monotonicNow()
	if err != nil {
		return 0, fmt.Errorf("gc conntrack: %w", err)
	}
	var (
		k       bpfobj.DatapathNoriCtKey
		v       bpfobj.DatapathNoriCtValue
		expired []bpfobj.DatapathNoriCtKey
	)
	// Deleting while iterating a hash map can restart or skip the walk:
	// collect first.
	it := d.objs.NoriCt.Iterate()
	for it.Next(&k, &v) {
		if int64(v.Expires) <= now {
			expired = append(expired, k)
		}
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("gc conntrack: %w", err)
	}
	n := 0
	for i := range expired {
		// Re-check: the flow may have been recreated since the walk.
		if err := d.objs.NoriCt.Lookup(&expired[i], &v); err != nil || int64(v.Expires) > now {
			continue
		}
		err := d.objs.NoriCt.Delete(&expired[i])
		if err == nil {
			n++
			continue
		}
		if !errors.Is(err, ebpf.ErrKeyNotExist) {
			return n, fmt.Errorf("gc conntrack: %w", err)
		}
	}
	return n, nil
}
