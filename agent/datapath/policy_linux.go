// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/nori-net/nori/agent/datapath/bpfobj"
)

// UpsertPolicy adds or replaces one policy entry. Replacing keeps the
// entry's flow counter.
func (d *Datapath) UpsertPolicy(k PolicyKey, v PolicyValue) error {
	bk, err := policyKeyToBPF(k)
	if err != nil {
		return fmt.Errorf("upsert policy: %w", err)
	}
	bv, err := policyValueToBPF(v)
	if err != nil {
		return fmt.Errorf("upsert policy: %w", err)
	}
	var old bpfobj.DatapathNoriPolicyValue
	if err := d.objs.NoriPolicy.Lookup(&bk, &old); err == nil {
		bv.Packets = old.Packets
	}
	if err := d.objs.NoriPolicy.Put(&bk, &bv); err != nil {
		return fmt.Errorf("upsert policy %+v: %w", k, err)
	}
	return nil
}

// DeletePolicy removes one policy entry; a missing one is not an error.
func (d *Datapath) DeletePolicy(k PolicyKey) error {
	bk, err := policyKeyToBPF(k)
	if err != nil {
		return fmt.Errorf("delete policy: %w", err)
	}
	err = d.objs.NoriPolicy.Delete(&bk)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete policy %+v: %w", k, err)
	}
	return nil
}

// ListPolicy returns every policy entry.
func (d *Datapath) ListPolicy() ([]PolicyEntry, error) {
	return d.listPolicy(func(bpfobj.DatapathNoriPolicyKey) bool { return true })
}

// ListPolicyEndpoint returns the policy entries of one endpoint.
func (d *Datapath) ListPolicyEndpoint(id uint16) ([]PolicyEntry, error) {
	return d.listPolicy(func(k bpfobj.DatapathNoriPolicyKey) bool { return k.EpId == id })
}

func (d *Datapath) listPolicy(keep func(bpfobj.DatapathNoriPolicyKey) bool) ([]PolicyEntry, error) {
	var (
		k   bpfobj.DatapathNoriPolicyKey
		v   bpfobj.DatapathNoriPolicyValue
		out []PolicyEntry
	)
	it := d.objs.NoriPolicy.Iterate()
	for it.Next(&k, &v) {
		if keep(k) {
			out = append(out, policyEntryFromBPF(k, v))
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list policy: %w", err)
	}
	return out, nil
}
