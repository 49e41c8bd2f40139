// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/nori-net/nori/agent/datapath/bpfobj"
)

// Proxy listeners inside endpoints' network namespaces (bpf/proxy.c): an
// endpoint whose entry carries EndpointProxyNetns gets its ingress
// redirects from nori_proxy_lookup, an sk_lookup program attached to its
// netns, which assigns them to the listener registered here for the
// endpoint's address and the flow's proxy port.
//
// The attachment is a netns link pinned as <bpf-root>/nori/sklookup/<id>:
// like the TCX links, it outlives the agent, so while no agent runs flows
// for the proxy are refused (their listener is gone) instead of reaching
// the application unchecked.

func (d *Datapath) skLookupDir() string { return filepath.Join(d.dir, "sklookup") }

func (d *Datapath) skLookupPin(epID uint16) string {
	return filepath.Join(d.skLookupDir(), strconv.Itoa(int(epID)))
}

// RegisterNetnsProxyListener makes ln, a listening TCP socket created in
// the netns of the endpoint with address ip, the socket that ingress flows
// to ip with proxy port port are given to. The entry goes away by itself
// when the socket is closed.
func (d *Datapath) RegisterNetnsProxyListener(ip netip.Addr, port uint16, ln syscall.Conn) error {
	if err := ipv4("proxy listener endpoint", ip); err != nil {
		return err
	}
	rc, err := ln.SyscallConn()
	if err != nil {
		return fmt.Errorf("register proxy listener %s/%d: %w", ip, port, err)
	}
	k := bpfobj.DatapathNoriProxySockKey{Ip: be32(ip), Port: port}
	var uerr error
	if err := rc.Control(func(fd uintptr) {
		uerr = d.objs.NoriProxyNsSocks.Update(&k, uint64(fd), ebpf.UpdateAny)
	}); err != nil {
		return fmt.Errorf("register proxy listener %s/%d: %w", ip, port, err)
	}
	if uerr != nil {
		return fmt.Errorf("register proxy listener %s/%d: %w", ip, port, uerr)
	}
	return nil
}

// UnregisterNetnsProxyListener removes the listener for ip and port; flows
// still meant for it are refused.
func (d *Datapath) UnregisterNetnsProxyListener(ip netip.Addr, port uint16) error {
	if err := ipv4("proxy listener endpoint", ip); err != nil {
		return err
	}
	k := bpfobj.DatapathNoriProxySockKey{Ip: be32(ip), Port: port}
	if err := d.objs.NoriProxyNsSocks.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unregister proxy listener %s/%d: %w", ip, port, err)
	}
	return nil
}

// AttachProxyLookup attaches nori_proxy_lookup to the network namespace
// open as ns, for endpoint epID. It is idempotent: an attachment of the
// same endpoint to the same namespace is pointed at the current program,
// one to another namespace (an ID reused) is replaced.
func (d *Datapath) AttachProxyLookup(epID uint16, ns *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(ns.Fd()), &st); err != nil {
		return fmt.Errorf("stat netns of endpoint %d: %w", epID, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := os.MkdirAll(d.skLookupDir(), 0o700); err != nil {
		return fmt.Errorf("create pin directory: %w", err)
	}
	pin := d.skLookupPin(epID)
	l, err := link.LoadPinnedLink(pin, nil)
	switch {
	case err == nil:
		ino, ierr := netnsLinkInode(l)
		if ierr == nil && uint64(ino) == st.Ino {
			err = l.Update(d.objs.NoriProxyLookup)
			l.Close()
			if err != nil {
				return fmt.Errorf("update sk_lookup link of endpoint %d: %w", epID, err)
			}
			return nil
		}
		err = l.Unpin()
		l.Close()
		if err != nil {
			return fmt.Errorf("unpin stale sk_lookup link of endpoint %d: %w", epID, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("load pinned sk_lookup link of endpoint %d: %w", epID, err)
	}
	nl, err := link.AttachNetNs(int(ns.Fd()), d.objs.NoriProxyLookup)
	if err != nil {
		return fmt.Errorf("attach sk_lookup to netns of endpoint %d: %w", epID, err)
	}
	err = nl.Pin(pin)
	nl.Close() // pinned, or detached again on a failed pin
	if err != nil {
		return fmt.Errorf("pin sk_lookup link of endpoint %d: %w", epID, err)
	}
	return nil
}

// DetachProxyLookup removes endpoint epID's sk_lookup attachment. A
// missing one is not an error.
func (d *Datapath) DetachProxyLookup(epID uint16) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, err := link.LoadPinnedLink(d.skLookupPin(epID), nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load pinned sk_lookup link of endpoint %d: %w", epID, err)
	}
	err = l.Unpin()
	l.Close() // the last reference: detached now
	if err != nil {
		return fmt.Errorf("unpin sk_lookup link of endpoint %d: %w", epID, err)
	}
	return nil
}

// repointProxyLookups gives the attachments of an earlier run the new
// program and unpins those whose namespace is gone.
func (d *Datapath) repointProxyLookups() error {
	entries, err := os.ReadDir(d.skLookupDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read sk_lookup pins: %w", err)
	}
	for _, e := range entries {
		pin := filepath.Join(d.skLookupDir(), e.Name())
		l, err := link.LoadPinnedLink(pin, nil)
		if err != nil {
			return fmt.Errorf("load pinned link %s: %w", pin, err)
		}
		ino, err := netnsLinkInode(l)
		if err == nil && ino != 0 {
			err = l.Update(d.objs.NoriProxyLookup)
			l.Close()
			if err != nil {
				return fmt.Errorf("update pinned link %s: %w", pin, err)
			}
			continue
		}
		err = l.Unpin()
		l.Close()
		if err != nil {
			return fmt.Errorf("unpin link of a vanished netns %s: %w", pin, err)
		}
		d.log.Info("unpinned sk_lookup link of a vanished netns", "pin", pin)
	}
	return nil
}

// netnsLinkInode is the inode of the namespace a netns link is attached
// to; 0 once that namespace is gone.
func netnsLinkInode(l link.Link) (uint32, error) {
	info, err := l.Info()
	if err != nil {
		return 0, fmt.Errorf("link info: %w", err)
	}
	ns := info.NetNs()
	if ns == nil {
		return 0, fmt.Errorf("link %d is not a netns link", info.ID)
	}
	return ns.NetnsInode, nil
}
