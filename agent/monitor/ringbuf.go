// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package monitor

import (
	"fmt"

	"github.com/cilium/ebpf/ringbuf"
)

// RingbufReader adapts the datapath's ring buffer reader to Reader.
func RingbufReader(r *ringbuf.Reader) Reader { return ringbufReader{r} }

type ringbufReader struct{ r *ringbuf.Reader }

// Read returns the next record's bytes; ringbuf reports Close as
// os.ErrClosed, which Run treats as the end.
func (r ringbufReader) Read() ([]byte, error) {
	rec, err := r.r.Read()
	if err != nil {
		return nil, fmt.Errorf("read ring buffer: %w", err)
	}
	return rec.RawSample, nil
}

func (r ringbufReader) Close() error { return r.r.Close() }
