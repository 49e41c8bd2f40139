// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// A TCX link lives only as long as something refers to it, so every link
// is pinned as <bpf-root>/nori/links/<ifname>_<hook>. The pin keeps
// traffic flowing while no agent runs, and lets the next agent swap the
// program atomically with link.Update.

func (d *Datapath) linkPin(ifname string, h hook) string {
	return filepath.Join(d.linksDir(), ifname+"_"+h.name)
}

func (d *Datapath) attachTCX(hs []hook, ifindex int, ifname string) error {
	for _, h := range hs {
		pin := d.linkPin(ifname, h)
		l, err := link.LoadPinnedLink(pin, nil)
		switch {
		case err == nil:
			same, err := linkOnIfindex(l, ifindex)
			if err == nil && same {
				err = l.Update(h.prog(d))
				l.Close()
				if err != nil {
					return fmt.Errorf("update tcx %s link: %w", h.name, err)
				}
				continue
			}
			// The pin belongs to an older interface that had this name.
			if err := l.Unpin(); err != nil {
				l.Close()
				return fmt.Errorf("unpin stale tcx %s link: %w", h.name, err)
			}
			l.Close()
		case !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("load pinned tcx %s link: %w", h.name, err)
		}

		l, err = link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: h.prog(d), Attach: h.attach})
		if err != nil {
			return fmt.Errorf("attach tcx %s: %w", h.name, err)
		}
		err = l.Pin(pin)
		// Closing our fd is fine once pinned; on a failed pin it detaches.
		l.Close()
		if err != nil {
			return fmt.Errorf("pin tcx %s link: %w", h.name, err)
		}
	}
	return nil
}

func (d *Datapath) detachTCX(hs []hook, ifname string) error {
	for _, h := range hs {
		l, err := link.LoadPinnedLink(d.linkPin(ifname, h), nil)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("load pinned tcx %s link: %w", h.name, err)
		}
		err = l.Unpin()
		l.Close() // the last reference: the program is detached now
		if err != nil {
			return fmt.Errorf("unpin tcx %s link: %w", h.name, err)
		}
	}
	return nil
}

// repointTCX walks the pinned links: live ones get the new program, those
// whose interface is gone are unpinned.
func (d *Datapath) repointTCX() error {
	entries, err := os.ReadDir(d.linksDir())
	if err != nil {
		return fmt.Errorf("read link pins: %w", err)
	}
	for _, e := range entries {
		h, ok := hookOfPin(e.Name())
		if !ok {
			d.log.Warn("ignoring unknown pin", "path", filepath.Join(d.linksDir(), e.Name()))
			continue
		}
		pin := filepath.Join(d.linksDir(), e.Name())
		l, err := link.LoadPinnedLink(pin, nil)
		if err != nil {
			return fmt.Errorf("load pinned link %s: %w", pin, err)
		}
		alive, err := linkAlive(l)
		if err == nil && alive {
			err = l.Update(h.prog(d))
			l.Close()
			if err != nil {
				return fmt.Errorf("update pinned link %s: %w", pin, err)
			}
			d.log.Debug("link re-pointed", "pin", pin)
			continue
		}
		err = l.Unpin()
		l.Close()
		if err != nil {
			return fmt.Errorf("unpin dead link %s: %w", pin, err)
		}
		d.log.Info("unpinned link of a vanished interface", "pin", pin)
	}
	return nil
}

func hookOfPin(name string) (hook, bool) {
	for _, h := range allHooks {
		if strings.HasSuffix(name, "_"+h.name) {
			return h, true
		}
	}
	return hook{}, false
}

// tcxIfindex returns the interface a TCX link is on; 0 once the interface
// has been deleted (the kernel then detaches the link).
func tcxIfindex(l link.Link) (int, error) {
	info, err := l.Info()
	if err != nil {
		return 0, fmt.Errorf("link info: %w", err)
	}
	tcx := info.TCX()
	if tcx == nil {
		return 0, fmt.Errorf("link %d is not a tcx link", info.ID)
	}
	return int(tcx.Ifindex), nil
}

func linkOnIfindex(l link.Link, ifindex int) (bool, error) {
	got, err := tcxIfindex(l)
	return got == ifindex, err
}

func linkAlive(l link.Link) (bool, error) {
	idx, err := tcxIfindex(l)
	if err != nil || idx == 0 {
		return false, err
	}
	if _, err := netlink.LinkByIndex(idx); err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return false, nil
		}
		return false, fmt.Errorf("look up interface %d: %w", idx, err)
	}
	return true, nil
}
