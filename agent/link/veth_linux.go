// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package link creates and removes the veth pair that connects a container
// to the node: the host end is called lxc<hash>, the container end gets the
// runtime's interface name, a /32 address, a default route via the node
// router and a static neighbour entry for that router, so the container
// never ARPs and every packet it sends reaches the BPF program on the host
// end. All work is done through netlink sockets opened in the target
// namespace, so no thread ever changes namespace.
package link

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrExists is returned when the container already has an interface of the
// requested name (CNI requires ADD to fail then).
var ErrExists = errors.New("interface already exists in the container")

// ErrNetnsGone is returned when the container's namespace no longer exists.
var ErrNetnsGone = errors.New("network namespace does not exist")

// Config describes one container attachment.
type Config struct {
	ContainerID string
	IfName      string // inside the container, e.g. eth0
	Netns       string // path of the container's network namespace
	HostIfName  string // from HostIfName(); set by the caller so it can persist it first
	MTU         int
	Addrs       []netip.Addr // configured as /32
	Router      netip.Addr   // next hop for everything, answered by the node
}

// Veth is what Setup created.
type Veth struct {
	HostName     string
	HostIndex    int
	HostMAC      net.HardwareAddr
	ContainerMAC net.HardwareAddr
	ContainerIdx int
}

// HostIfName derives the host-side name from the attachment, so a retry or
// a restarted agent finds the same device. 14 characters fit IFNAMSIZ.
func HostIfName(containerID, ifName string) string {
	sum := sha256.Sum256([]byte(containerID + "/" + ifName))
	return "lxc" + hex.EncodeToString(sum[:])[:11]
}

// randomMAC returns a locally administered unicast address. Choosing both
// MACs ourselves saves reading them back after creation.
func randomMAC() (net.HardwareAddr, error) {
	mac := make(net.HardwareAddr, 6)
	if _, err := rand.Read(mac); err != nil {
		return nil, fmt.Errorf("random mac: %w", err)
	}
	mac[0] = (mac[0] | 0x02) &^ 0x01
	return mac, nil
}

func openNetns(path string) (netns.NsHandle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return netns.None(), fmt.Errorf("%w: %s", ErrNetnsGone, path)
		}
		return netns.None(), fmt.Errorf("open netns %s: %w", path, err)
	}
	return ns, nil
}

// Setup creates the veth pair and configures both ends. On error it
// removes what it created.
func Setup(cfg Config) (v *Veth, err error) {
	ns, err := openNetns(cfg.Netns)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	ch, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", cfg.Netns, err)
	}
	defer ch.Close()
	if _, err := ch.LinkByName(cfg.IfName); err == nil {
		return nil, fmt.Errorf("%w: %s in %s", ErrExists, cfg.IfName, cfg.Netns)
	}
	veth, hostMAC, ctrMAC, err := addVeth(cfg, netlink.NsFd(ns))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = netlink.LinkDel(veth)
		}
	}()

	host, err := netlink.LinkByName(cfg.HostIfName)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", cfg.HostIfName, err)
	}
	ctr, err := ch.LinkByName(cfg.IfName)
	if err != nil {
		return nil, fmt.Errorf("find %s in container: %w", cfg.IfName, err)
	}
	if err := configureContainer(ch, ctr, cfg, hostMAC); err != nil {
		return nil, err
	}
	if err := configureHost(host, cfg, ctrMAC); err != nil {
		return nil, err
	}
	return &Veth{
		HostName:     cfg.HostIfName,
		HostIndex:    host.Attrs().Index,
		HostMAC:      hostMAC,
		ContainerMAC: ctrMAC,
		ContainerIdx: ctr.Attrs().Index,
	}, nil
}

// addVeth creates the pair with MACs of our choosing, the peer in peerNS
// (nil: the host namespace). A host end left over from a failed attempt
// of the same attachment is ours to replace.
func addVeth(cfg Config, peerNS any) (veth *netlink.Veth, hostMAC, ctrMAC net.HardwareAddr, err error) {
	if old, err := netlink.LinkByName(cfg.HostIfName); err == nil {
		_ = netlink.LinkDel(old)
	}
	if hostMAC, err = randomMAC(); err != nil {
		return nil, nil, nil, err
	}
	if ctrMAC, err = randomMAC(); err != nil {
		return nil, nil, nil, err
	}
	veth = &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{
			Name:         cfg.HostIfName,
			MTU:          cfg.MTU,
			HardwareAddr: hostMAC,
			TxQLen:       1000,
		},
		PeerName:         cfg.IfName,
		PeerHardwareAddr: ctrMAC,
		PeerMTU:          uint32(cfg.MTU),
		PeerNamespace:    peerNS,
	}
	if err := netlink.LinkAdd(veth); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil, nil, nil, fmt.Errorf("%w: %s (or host %s)", ErrExists, cfg.IfName, cfg.HostIfName)
		}
		return nil, nil, nil, fmt.Errorf("create veth %s/%s: %w", cfg.HostIfName, cfg.IfName, err)
	}
	return veth, hostMAC, ctrMAC, nil
}

func configureContainer(h *netlink.Handle, ctr netlink.Link, cfg Config, hostMAC net.HardwareAddr) error {
	if lo, err := h.LinkByName("lo"); err == nil && lo.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up in container: %w", err)
		}
	}
	for _, a := range cfg.Addrs {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)}}
		if err := h.AddrAdd(ctr, addr); err != nil {
			return fmt.Errorf("add %s to %s: %w", a, cfg.IfName, err)
		}
	}
	if err := h.LinkSetUp(ctr); err != nil {
		return fmt.Errorf("set %s up: %w", cfg.IfName, err)
	}
	idx := ctr.Attrs().Index
	router := cfg.Router.AsSlice()
	if err := h.NeighSet(&netlink.Neigh{
		LinkIndex:    idx,
		Family:       unix.AF_INET,
		State:        netlink.NUD_PERMANENT,
		IP:           router,
		HardwareAddr: hostMAC,
	}); err != nil {
		return fmt.Errorf("add neighbour %s in container: %w", cfg.Router, err)
	}
	if err := h.RouteReplace(&netlink.Route{
		LinkIndex: idx,
		Dst:       &net.IPNet{IP: router, Mask: net.CIDRMask(32, 32)},
		Scope:     netlink.SCOPE_LINK,
	}); err != nil {
		return fmt.Errorf("add route to router %s in container: %w", cfg.Router, err)
	}
	var src net.IP
	if len(cfg.Addrs) > 0 {
		src = cfg.Addrs[0].AsSlice()
	}
	if err := h.RouteReplace(&netlink.Route{
		LinkIndex: idx,
		Gw:        router,
		Src:       src,
		MTU:       cfg.MTU,
	}); err != nil {
		return fmt.Errorf("add default route via %s in container: %w", cfg.Router, err)
	}
	return nil
}

func configureHost(host netlink.Link, cfg Config, ctrMAC net.HardwareAddr) error {
	// The host end carries no address; with rp_filter on, replies routed
	// back through a /32 route would still pass, but loose filtering on
	// this device keeps the proxy and overlay paths of later features
	// simple.
	_ = os.WriteFile("/proc/sys/net/ipv4/conf/"+cfg.HostIfName+"/rp_filter", []byte("0"), 0o644)
	// Host-side IPv6 link-local and DAD are noise on a device that only
	// carries IPv4 today.
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+cfg.HostIfName+"/disable_ipv6", []byte("1"), 0o644)
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("set %s up: %w", cfg.HostIfName, err)
	}
	idx := host.Attrs().Index
	for _, a := range cfg.Addrs {
		ip := a.AsSlice()
		if err := netlink.NeighSet(&netlink.Neigh{
			LinkIndex:    idx,
			Family:       unix.AF_INET,
			State:        netlink.NUD_PERMANENT,
			IP:           ip,
			HardwareAddr: ctrMAC,
		}); err != nil {
			return fmt.Errorf("add neighbour %s on %s: %w", a, cfg.HostIfName, err)
		}
		if err := netlink.RouteReplace(&netlink.Route{
			LinkIndex: idx,
			Dst:       &net.IPNet{IP: ip, Mask: net.CIDRMask(32, 32)},
			Scope:     netlink.SCOPE_LINK,
		}); err != nil {
			return fmt.Errorf("add host route %s dev %s: %w", a, cfg.HostIfName, err)
		}
	}
	return nil
}

// Teardown removes the veth pair by its host end. A missing device is not
// an error: the container's namespace may already be gone, taking the pair
// with it.
func Teardown(hostIfName string) error {
	l, err := netlink.LinkByName(hostIfName)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("find %s: %w", hostIfName, err)
	}
	if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete %s: %w", hostIfName, err)
	}
	return nil
}

// HostLink returns the index and MAC of an existing host end, for restore.
func HostLink(hostIfName string) (int, net.HardwareAddr, error) {
	l, err := netlink.LinkByName(hostIfName)
	if err != nil {
		return 0, nil, fmt.Errorf("find %s: %w", hostIfName, err)
	}
	return l.Attrs().Index, l.Attrs().HardwareAddr, nil
}

// Check verifies that the container still has the interface with the
// expected addresses and that the host end exists (CNI CHECK).
func Check(cfg Config) error {
	if _, _, err := HostLink(cfg.HostIfName); err != nil {
		return err
	}
	ns, err := openNetns(cfg.Netns)
	if err != nil {
		return err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", cfg.Netns, err)
	}
	defer h.Close()
	ctr, err := h.LinkByName(cfg.IfName)
	if err != nil {
		return fmt.Errorf("find %s in container: %w", cfg.IfName, err)
	}
	addrs, err := h.AddrList(ctr, unix.AF_INET)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", cfg.IfName, err)
	}
	have := map[netip.Addr]bool{}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			have[ip] = true
		}
	}
	for _, want := range cfg.Addrs {
		if !have[want] {
			return fmt.Errorf("%s in container lacks address %s", cfg.IfName, want)
		}
	}
	return nil
}
