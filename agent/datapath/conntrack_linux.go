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
	var out []CTEntry
	if err := d.walkCT(func(k bpfobj.DatapathNoriCtKey, v bpfobj.DatapathNoriCtValue) {
		out = append(out, ctFromBPF(k, v, now))
	}); err != nil {
		return nil, fmt.Errorf("list conntrack: %w", err)
	}
	return out, nil
}

// ctBatch is how many entries one batch syscall reads. A hash map
// returns whole buckets, so it must exceed the longest bucket.
const ctBatch = 4096

// walkCT calls fn for every conntrack entry. It reads the map in batches:
// a walk with get-next-key and one lookup per entry costs two syscalls
// per flow, which under many short connections (hundreds of thousands of
// entries) is real CPU taken from the node every GC round.
func (d *Datapath) walkCT(fn func(bpfobj.DatapathNoriCtKey, bpfobj.DatapathNoriCtValue)) error {
	keys := make([]bpfobj.DatapathNoriCtKey, ctBatch)
	vals := make([]bpfobj.DatapathNoriCtValue, ctBatch)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := d.objs.NoriCt.BatchLookup(&cursor, keys, vals, nil)
		for i := range n {
			fn(keys[i], vals[i])
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
	}
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
		v       bpfobj.DatapathNoriCtValue
		expired []bpfobj.DatapathNoriCtKey
	)
	// Deleting while walking a hash map can restart or skip the walk:
	// collect first.
	if err := d.walkCT(func(k bpfobj.DatapathNoriCtKey, v bpfobj.DatapathNoriCtValue) {
		if int64(v.Expires) <= now {
			expired = append(expired, k)
		}
	}); err != nil {
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
