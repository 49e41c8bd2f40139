// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The clsact fallback for kernels without TCX (< 6.6): a cls_bpf filter
// in direct-action mode on each direction. Filters are held by the qdisc,
// so they survive the agent without pins; a new agent replaces them with
// the same handle and priority, which swaps the program atomically.

const (
	clsPriority = 1
	clsHandle   = 1
)

func clsParent(h hook) uint32 {
	if h.attach == ebpf.AttachTCXIngress {
		return netlink.HANDLE_MIN_INGRESS
	}
	return netlink.HANDLE_MIN_EGRESS
}

func clsFilter(ifindex int, h hook, fd int, name string) *netlink.BpfFilter {
	return &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: ifindex,
			Parent:    clsParent(h),
			Handle:    clsHandle,
			Protocol:  unix.ETH_P_ALL,
			Priority:  clsPriority,
		},
		Fd:           fd,
		Name:         name,
		DirectAction: true,
	}
}

func (d *Datapath) attachClsact(hs []hook, ifindex int) error {
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: ifindex,
			Handle:    netlink.MakeHandle(0xffff, 0),
			Parent:    netlink.HANDLE_CLSACT,
		},
		QdiscType: "clsact",
	}
	// Add, not replace: an existing clsact may carry other users' filters.
	if err := netlink.QdiscAdd(qdisc); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add clsact qdisc: %w", err)
	}
	for _, h := range hs {
		p := h.prog(d)
		if err := netlink.FilterReplace(clsFilter(ifindex, h, p.FD(), h.progName)); err != nil {
			return fmt.Errorf("replace cls_bpf %s filter: %w", h.name, err)
		}
	}
	return nil
}

func (d *Datapath) detachClsact(hs []hook, ifname string) error {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("look up %s: %w", ifname, err)
	}
	for _, h := range hs {
		f, err := ourFilter(l, h)
		if err != nil {
			return err
		}
		if f == nil {
			continue
		}
		if err := netlink.FilterDel(f); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete cls_bpf %s filter: %w", h.name, err)
		}
	}
	return nil
}

// repointClsact finds our filters on every interface of the netns and
// replaces their programs.
func (d *Datapath) repointClsact() error {
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	for _, l := range links {
		for _, h := range allHooks {
			f, err := ourFilter(l, h)
			if err != nil {
				return err
			}
			if f == nil {
				continue
			}
			nf := clsFilter(l.Attrs().Index, h, h.prog(d).FD(), h.progName)
			if err := netlink.FilterReplace(nf); err != nil {
				return fmt.Errorf("replace cls_bpf %s filter on %s: %w", h.name, l.Attrs().Name, err)
			}
			d.log.Debug("filter re-pointed", "ifname", l.Attrs().Name, "hook", h.name)
		}
	}
	return nil
}

func ourFilter(l netlink.Link, h hook) (*netlink.BpfFilter, error) {
	filters, err := netlink.FilterList(l, clsParent(h))
	if err != nil {
		// No clsact qdisc means no filters of ours.
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		return nil, fmt.Errorf("list %s filters on %s: %w", h.name, l.Attrs().Name, err)
	}
	for _, f := range filters {
		bf, ok := f.(*netlink.BpfFilter)
		if ok && bf.Name == h.progName && bf.Priority == clsPriority && bf.Handle == clsHandle {
			return bf, nil
		}
	}
	return nil, nil
}
