// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/nori-net/nori/agent/datapath/bpfobj"
)

// SetConfig writes the node-wide settings.
func (d *Datapath) SetConfig(c NodeConfig) error {
	v, err := configToBPF(c)
	if err != nil {
		return fmt.Errorf("set config: %w", err)
	}
	if err := d.objs.NoriConfig.Put(uint32(0), &v); err != nil {
		return fmt.Errorf("set config: %w", err)
	}
	return nil
}

// Config reads back the node-wide settings.
func (d *Datapath) Config() (NodeConfig, error) {
	var v bpfobj.DatapathNoriNodeConfig
	if err := d.objs.NoriConfig.Lookup(uint32(0), &v); err != nil {
		return NodeConfig{}, fmt.Errorf("read config: %w", err)
	}
	return configFromBPF(v), nil
}

// UpsertEndpoint adds or replaces a local endpoint.
func (d *Datapath) UpsertEndpoint(e Endpoint) error {
	k, v, err := endpointToBPF(e)
	if err != nil {
		return fmt.Errorf("upsert endpoint: %w", err)
	}
	if err := d.objs.NoriEndpoints.Put(k, &v); err != nil {
		return fmt.Errorf("upsert endpoint %v: %w", e.IP, err)
	}
	return nil
}

// DeleteEndpoint removes a local endpoint; a missing one is not an error.
func (d *Datapath) DeleteEndpoint(ip netip.Addr) error {
	if err := ipv4("endpoint IP", ip); err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	err := d.objs.NoriEndpoints.Delete(ip.As4())
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete endpoint %v: %w", ip, err)
	}
	return nil
}

// LookupEndpoint returns the local endpoint with address ip, if any.
func (d *Datapath) LookupEndpoint(ip netip.Addr) (Endpoint, bool, error) {
	if err := ipv4("endpoint IP", ip); err != nil {
		return Endpoint{}, false, fmt.Errorf("lookup endpoint: %w", err)
	}
	var v bpfobj.DatapathNoriEndpoint
	k := ip.As4()
	if err := d.objs.NoriEndpoints.Lookup(k, &v); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return Endpoint{}, false, nil
		}
		return Endpoint{}, false, fmt.Errorf("lookup endpoint %v: %w", ip, err)
	}
	return endpointFromBPF(k, v), true, nil
}

// ListEndpoints returns every local endpoint in the map.
func (d *Datapath) ListEndpoints() ([]Endpoint, error) {
	var (
		k   [4]byte
		v   bpfobj.DatapathNoriEndpoint
		out []Endpoint
	)
	it := d.objs.NoriEndpoints.Iterate()
	for it.Next(&k, &v) {
		out = append(out, endpointFromBPF(k, v))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	return out, nil
}

// UpsertIPCache adds or replaces the entry for a prefix.
func (d *Datapath) UpsertIPCache(e IPCacheEntry) error {
	k, v, err := ipcacheToBPF(e)
	if err != nil {
		return fmt.Errorf("upsert ipcache: %w", err)
	}
	if err := d.objs.NoriIpcache.Put(&k, &v); err != nil {
		return fmt.Errorf("upsert ipcache %v: %w", e.Prefix, err)
	}
	return nil
}

// DeleteIPCache removes the entry for exactly this prefix; a missing one
// is not an error.
func (d *Datapath) DeleteIPCache(p netip.Prefix) error {
	k, err := ipcacheKey(p)
	if err != nil {
		return fmt.Errorf("delete ipcache: %w", err)
	}
	err = d.objs.NoriIpcache.Delete(&k)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete ipcache %v: %w", p, err)
	}
	return nil
}

// ListIPCache returns every ipcache entry.
func (d *Datapath) ListIPCache() ([]IPCacheEntry, error) {
	var (
		k   bpfobj.DatapathNoriIpcacheKey
		v   bpfobj.DatapathNoriIpcacheValue
		out []IPCacheEntry
	)
	it := d.objs.NoriIpcache.Iterate()
	for it.Next(&k, &v) {
		out = append(out, ipcacheFromBPF(k, v))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list ipcache: %w", err)
	}
	return out, nil
}

// Metrics returns the packet and byte counters summed over all CPUs.
func (d *Datapath) Metrics() (map[MetricKey]MetricValue, error) {
	var (
		k  bpfobj.DatapathNoriMetricsKey
		vs []bpfobj.DatapathNoriMetricsValue
	)
	out := make(map[MetricKey]MetricValue)
	it := d.objs.NoriMetrics.Iterate()
	for it.Next(&k, &vs) {
		var sum MetricValue
		for _, v := range vs {
			sum.Packets += v.Packets
			sum.Bytes += v.Bytes
		}
		out[MetricKey{Reason: Reason(k.Reason), Dir: Direction(k.Dir)}] = sum
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return out, nil
}

// EventReader opens a reader on the events ring buffer; decode records
// with ParseEvent. The ring buffer has a single consumer position, so
// only one reader should run at a time.
func (d *Datapath) EventReader() (*ringbuf.Reader, error) {
	r, err := ringbuf.NewReader(d.objs.NoriEvents)
	if err != nil {
		return nil, fmt.Errorf("open event reader: %w", err)
	}
	return r, nil
}
