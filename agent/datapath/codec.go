// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/nori-net/nori/agent/datapath/bpfobj"
)

// The programs keep IPv4 addresses in network order. bpf2go types hold
// them as uint32, which cilium/ebpf writes in host order, so an address
// is turned into the uint32 whose host-order bytes are the address bytes.

func be32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.NativeEndian.Uint32(b[:])
}

func addrFromBE32(v uint32) netip.Addr {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func ipv4(what string, a netip.Addr) error {
	if !a.Is4() {
		return fmt.Errorf("%s %v is not an IPv4 address", what, a)
	}
	return nil
}

func mac6(what string, m net.HardwareAddr) ([6]uint8, error) {
	var out [6]uint8
	if len(m) != 6 {
		return out, fmt.Errorf("%s %q is not a 6-byte MAC address", what, m.String())
	}
	copy(out[:], m)
	return out, nil
}

func endpointToBPF(e Endpoint) ([4]byte, bpfobj.DatapathNoriEndpoint, error) {
	var v bpfobj.DatapathNoriEndpoint
	if err := ipv4("endpoint IP", e.IP); err != nil {
		return [4]byte{}, v, err
	}
	if e.IfIndex <= 0 {
		return [4]byte{}, v, fmt.Errorf("endpoint %v has no interface index", e.IP)
	}
	mac, err := mac6("endpoint MAC", e.MAC)
	if err != nil {
		return [4]byte{}, v, err
	}
	nodeMAC, err := mac6("endpoint node MAC", e.NodeMAC)
	if err != nil {
		return [4]byte{}, v, err
	}
	v.Ifindex = uint32(e.IfIndex)
	v.Identity = e.Identity
	v.EpId = e.ID
	v.Flags = e.Flags
	v.Mac = mac
	v.NodeMac = nodeMAC
	return e.IP.As4(), v, nil
}

func endpointFromBPF(k [4]byte, v bpfobj.DatapathNoriEndpoint) Endpoint {
	return Endpoint{
		IP:       netip.AddrFrom4(k),
		IfIndex:  int(v.Ifindex),
		MAC:      net.HardwareAddr(v.Mac[:]),
		NodeMAC:  net.HardwareAddr(v.NodeMac[:]),
		Identity: v.Identity,
		ID:       v.EpId,
		Flags:    v.Flags,
	}
}

func ipcacheKey(p netip.Prefix) (bpfobj.DatapathNoriIpcacheKey, error) {
	if !p.IsValid() || !p.Addr().Is4() {
		return bpfobj.DatapathNoriIpcacheKey{}, fmt.Errorf("prefix %v is not an IPv4 prefix", p)
	}
	p = p.Masked()
	return bpfobj.DatapathNoriIpcacheKey{Prefixlen: uint32(p.Bits()), Ip: be32(p.Addr())}, nil
}

func ipcacheToBPF(e IPCacheEntry) (bpfobj.DatapathNoriIpcacheKey, bpfobj.DatapathNoriIpcacheValue, error) {
	var v bpfobj.DatapathNoriIpcacheValue
	k, err := ipcacheKey(e.Prefix)
	if err != nil {
		return k, v, err
	}
	if e.TunnelEndpoint.IsValid() {
		if err := ipv4("tunnel endpoint", e.TunnelEndpoint); err != nil {
			return k, v, err
		}
		v.TunnelEndpoint = be32(e.TunnelEndpoint)
	}
	v.Identity = e.Identity
	v.Flags = e.Flags
	return k, v, nil
}

func ipcacheFromBPF(k bpfobj.DatapathNoriIpcacheKey, v bpfobj.DatapathNoriIpcacheValue) IPCacheEntry {
	e := IPCacheEntry{
		Prefix:   netip.PrefixFrom(addrFromBE32(k.Ip), int(k.Prefixlen)),
		Identity: v.Identity,
		Flags:    v.Flags,
	}
	if v.TunnelEndpoint != 0 {
		e.TunnelEndpoint = addrFromBE32(v.TunnelEndpoint)
	}
	return e
}

func configToBPF(c NodeConfig) (bpfobj.DatapathNoriNodeConfig, error) {
	var v bpfobj.DatapathNoriNodeConfig
	if err := ipv4("router IP", c.RouterIP); err != nil {
		return v, err
	}
	if !c.ClusterCIDR.IsValid() || !c.ClusterCIDR.Addr().Is4() {
		return v, fmt.Errorf("cluster CIDR %v is not an IPv4 prefix", c.ClusterCIDR)
	}
	if c.NodeIP.IsValid() {
		if err := ipv4("node IP", c.NodeIP); err != nil {
			return v, err
		}
		v.NodeIp = be32(c.NodeIP)
	}
	if c.TunnelIfIndex < 0 {
		return v, fmt.Errorf("tunnel interface index %d is negative", c.TunnelIfIndex)
	}
	// The programs would drop every packet to a remote node.
	if c.Flags&ConfigTunnel != 0 && c.TunnelIfIndex == 0 {
		return v, fmt.Errorf("tunnel mode needs the tunnel interface index")
	}
	cidr := c.ClusterCIDR.Masked()
	mask := net.CIDRMask(cidr.Bits(), 32)
	v.RouterIp = be32(c.RouterIP)
	v.ClusterCidr = be32(cidr.Addr())
	v.ClusterMask = binary.NativeEndian.Uint32(mask)
	v.TunnelIfindex = uint32(c.TunnelIfIndex)
	v.Flags = c.Flags
	return v, nil
}

func configFromBPF(v bpfobj.DatapathNoriNodeConfig) NodeConfig {
	var mask [4]byte
	binary.NativeEndian.PutUint32(mask[:], v.ClusterMask)
	bits, _ := net.IPMask(mask[:]).Size()
	c := NodeConfig{
		RouterIP:      addrFromBE32(v.RouterIp),
		ClusterCIDR:   netip.PrefixFrom(addrFromBE32(v.ClusterCidr), bits),
		TunnelIfIndex: int(v.TunnelIfindex),
		Flags:         v.Flags,
	}
	if v.NodeIp != 0 {
		c.NodeIP = addrFromBE32(v.NodeIp)
	}
	return c
}
