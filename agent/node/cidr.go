// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package node

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// cidrKey is the etcd key of a node CIDR claim, e.g. cidrs/10.0.3.0-24.
func cidrKey(p netip.Prefix) string {
	return cidrsPrefix + strings.Replace(p.String(), "/", "-", 1)
}

// parseCIDRKey reverses cidrKey for a key relative to the cluster prefix.
func parseCIDRKey(key string) (netip.Prefix, bool) {
	s, ok := strings.CutPrefix(key, cidrsPrefix)
	if !ok {
		return netip.Prefix{}, false
	}
	i := strings.LastIndexByte(s, '-')
	if i < 0 {
		return netip.Prefix{}, false
	}
	p, err := netip.ParsePrefix(s[:i] + "/" + s[i+1:])
	return p, err == nil
}

// ClaimCIDR returns the node CIDR of this node's name: the one it already
// owns in etcd, else the first free one of the pool, claimed by a
// create-only transaction so two hosts never get the same one.
func (m *Manager) ClaimCIDR(ctx context.Context) (netip.Prefix, error) {
	kvs, _, err := m.store.List(ctx, cidrsPrefix)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("claim node CIDR: %w", err)
	}
	taken := make(map[netip.Prefix]bool, len(kvs))
	var mine netip.Prefix
	for _, kv := range kvs {
		p, ok := parseCIDRKey(kv.Key)
		if !ok {
			continue
		}
		taken[p] = true
		if string(kv.Value) != m.cfg.Name {
			continue
		}
		if !m.fits(p) {
			m.logger.Warn("node owns a CIDR outside the configured pool; claiming a new one", "cidr", p, "pool", m.cfg.Pool, "maskSize", m.cfg.MaskSize)
			continue
		}
		if !mine.IsValid() || p.Addr().Less(mine.Addr()) {
			mine = p
		}
	}
	if mine.IsValid() {
		m.logger.Info("reusing node CIDR", "cidr", mine)
		return mine, nil
	}
	step := uint64(1) << (32 - m.cfg.MaskSize)
	count := uint64(1) << (m.cfg.MaskSize - m.cfg.Pool.Bits())
	base := uint64(u32(m.cfg.Pool.Addr()))
	for i := uint64(0); i < count; i++ {
		p := netip.PrefixFrom(a4(uint32(base+i*step)), m.cfg.MaskSize)
		if taken[p] || (m.cfg.IPv4.IsValid() && p.Contains(m.cfg.IPv4)) {
			continue
		}
		created, cur, err := m.store.CreateOnly(ctx, cidrKey(p), []byte(m.cfg.Name), false)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("claim node CIDR %s: %w", p, err)
		}
		if created || string(cur) == m.cfg.Name {
			m.logger.Info("claimed node CIDR", "cidr", p)
			return p, nil
		}
		// Another host won this one between our list and the claim.
	}
	return netip.Prefix{}, fmt.Errorf("claim node CIDR: all %d CIDRs of size /%d in cluster pool %s are taken (remove nodes with `nori node delete`)", count, m.cfg.MaskSize, m.cfg.Pool)
}

func (m *Manager) fits(p netip.Prefix) bool {
	return p.Bits() == m.cfg.MaskSize && m.cfg.Pool.Contains(p.Addr())
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func a4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
