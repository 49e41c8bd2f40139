// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/cilium/ebpf"

	"github.com/nori-net/nori/agent/datapath/bpfobj"
)

// RegisterProxyListener makes ln the socket that flows with proxy port
// port are assigned to. ln must be a listening TCP socket with
// IP_TRANSPARENT and without MPTCP (the sockhash refuses MPTCP sockets).
// The entry goes away by itself when the socket is closed.
func (d *Datapath) RegisterProxyListener(port uint16, ln syscall.Conn) error {
	rc, err := ln.SyscallConn()
	if err != nil {
		return fmt.Errorf("register proxy listener %d: %w", port, err)
	}
	var uerr error
	if err := rc.Control(func(fd uintptr) {
		uerr = d.objs.NoriProxySocks.Update(uint32(port), uint64(fd), ebpf.UpdateAny)
	}); err != nil {
		return fmt.Errorf("register proxy listener %d: %w", port, err)
	}
	if uerr != nil {
		return fmt.Errorf("register proxy listener %d: %w", port, uerr)
	}
	return nil
}

// UnregisterProxyListener removes port's listener; flows still steered
// to port are then dropped (drop-no-proxy).
func (d *Datapath) UnregisterProxyListener(port uint16) error {
	err := d.objs.NoriProxySocks.Delete(uint32(port))
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unregister proxy listener %d: %w", port, err)
	}
	return nil
}

// LookupCT returns the conntrack entry keyed by the tuple src → dst of
// protocol proto, if there is a live one.
func (d *Datapath) LookupCT(proto uint8, src, dst netip.AddrPort) (CTEntry, bool, error) {
	if err := ipv4("ct source", src.Addr()); err != nil {
		return CTEntry{}, false, err
	}
	if err := ipv4("ct destination", dst.Addr()); err != nil {
		return CTEntry{}, false, err
	}
	now, err := monotonicNow()
	if err != nil {
		return CTEntry{}, false, fmt.Errorf("lookup conntrack: %w", err)
	}
	k := bpfobj.DatapathNoriCtKey{
		Saddr: be32(src.Addr()),
		Daddr: be32(dst.Addr()),
		Sport: htons(src.Port()),
		Dport: htons(dst.Port()),
		Proto: proto,
	}
	var v bpfobj.DatapathNoriCtValue
	if err := d.objs.NoriCt.Lookup(&k, &v); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return CTEntry{}, false, nil
		}
		return CTEntry{}, false, fmt.Errorf("lookup conntrack %v → %v: %w", src, dst, err)
	}
	e := ctFromBPF(k, v, now)
	if e.Expires <= 0 {
		return CTEntry{}, false, nil
	}
	return e, true, nil
}
