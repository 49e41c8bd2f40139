// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package overlay

import (
	"errors"
	"fmt"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Setup creates the VXLAN device, or reuses the one an earlier run made,
// and returns its interface index. The device is in external mode (no
// VNI, no remote: the BPF programs set both per packet), has ARP off (ARP
// packets carry no tunnel key, so nothing could send them) and is up.
// Setup is idempotent; a device of the same name with other VXLAN
// settings (another port) is replaced.
func Setup(cfg Config) (int, error) {
	log := cfg.logger()
	name, port := cfg.device(), cfg.port()
	if port <= 0 || port > 65535 {
		return 0, fmt.Errorf("set up %s: tunnel port %d out of range", name, port)
	}
	if cfg.MTU < 0 {
		return 0, fmt.Errorf("set up %s: negative mtu %d", name, cfg.MTU)
	}

	l, err := netlink.LinkByName(name)
	switch {
	case err == nil:
		vx, ok := l.(*netlink.Vxlan)
		if !ok {
			return 0, fmt.Errorf("set up %s: a %s device of that name exists; remove it", name, l.Type())
		}
		if !vx.FlowBased || vx.Port != port {
			log.Warn("replacing vxlan device with other settings", "device", name,
				"external", vx.FlowBased, "port", vx.Port, "want_port", port)
			if err := netlink.LinkDel(l); err != nil {
				return 0, fmt.Errorf("delete %s: %w", name, err)
			}
			l = nil
		}
	case !isNotFound(err):
		return 0, fmt.Errorf("find %s: %w", name, err)
	default:
		l = nil
	}

	if l == nil {
		vx := &netlink.Vxlan{
			LinkAttrs: netlink.LinkAttrs{Name: name, MTU: cfg.MTU},
			FlowBased: true,
			Port:      port,
		}
		// EEXIST here means another external device already listens on
		// this port in this netns: the kernel allows only one.
		if err := netlink.LinkAdd(vx); err != nil {
			return 0, fmt.Errorf("create vxlan device %s on port %d: %w", name, port, err)
		}
		if l, err = netlink.LinkByName(name); err != nil {
			return 0, fmt.Errorf("find %s: %w", name, err)
		}
		log.Info("vxlan device created", "device", name, "port", port, "ifindex", l.Attrs().Index)
	}

	if cfg.MTU > 0 && l.Attrs().MTU != cfg.MTU {
		if err := netlink.LinkSetMTU(l, cfg.MTU); err != nil {
			return 0, fmt.Errorf("set mtu of %s to %d: %w", name, cfg.MTU, err)
		}
	}
	if err := netlink.LinkSetARPOff(l); err != nil {
		return 0, fmt.Errorf("set arp off on %s: %w", name, err)
	}
	// Nori carries only IPv4 through the overlay. Without this the kernel
	// sends IPv6 neighbour discovery into the device, which the BPF
	// program has to drop and count.
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("1"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("disable ipv6 on %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return 0, fmt.Errorf("set %s up: %w", name, err)
	}
	return l.Attrs().Index, nil
}

// Teardown removes the routes this package installed and the VXLAN
// device. Missing pieces are not an error.
func Teardown(cfg Config) error {
	if err := SetRemoteCIDRs(cfg, ModeNative, nil); err != nil {
		return err
	}
	name := cfg.device()
	l, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	cfg.logger().Info("vxlan device removed", "device", name)
	return nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}
