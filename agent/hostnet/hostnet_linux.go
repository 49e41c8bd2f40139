// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package hostnet prepares the node's own network namespace for the
// datapath: the nori_host device that owns the node router address every
// container routes through, the sysctls forwarding needs, the policy
// routing that delivers packets steered to the proxy, and the masquerade
// rule that lets containers reach non-cluster addresses with the node's
// address.
package hostnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouterDevice holds the node router address. Packets a container sends
// to that address are delivered locally, which is what makes `ping
// <gateway>` answer. It is one end of a veth pair (the other is
// routerPeer), as Cilium's cilium_host/cilium_net: veth is available on
// every kernel that runs containers, the dummy driver is not (it is
// missing on this project's CI kernel), and the pair gives later features a
// device whose egress the datapath controls.
const RouterDevice = "nori_host"

const routerPeer = "nori_net"

// nftTable is the nftables table Nori owns; it is replaced as a whole so
// re-applying is idempotent and never duplicates rules.
const nftTable = "nori"

// Config describes the node's addressing.
type Config struct {
	Router      netip.Addr   // node router address (first address of the node CIDR)
	Health      netip.Addr   // node health address (last address of the node CIDR), may be zero
	ClusterPool netip.Prefix // every endpoint address of the cluster
	// TunnelPort is the VXLAN UDP port, 0 in native-routing mode.
	TunnelPort int
	// ProxyMark and ProxyMarkMask select the packets the datapath steers
	// to the proxy; they are routed locally (ProxyRouteTable).
	ProxyMark, ProxyMarkMask uint32
	Logger                   *slog.Logger
}

// Setup creates or refreshes the router device, sysctls and masquerading.
// It is idempotent: the agent calls it on every start.
func Setup(cfg Config) error {
	if err := ensureRouterDevice(cfg.Router, cfg.Health); err != nil {
		return err
	}
	// Forwarding is needed for traffic the BPF programs hand to the
	// kernel: containers to the world, port-published services.
	if err := writeSysctl("net/ipv4/ip_forward", "1"); err != nil {
		return err
	}
	if cfg.ProxyMarkMask != 0 {
		if err := ensureProxyRouting(cfg.ProxyMark, cfg.ProxyMarkMask); err != nil {
			return err
		}
	}
	return Masquerade(cfg.ClusterPool, cfg.TunnelPort)
}

func writeSysctl(name, value string) error {
	if err := os.WriteFile("/proc/sys/"+name, []byte(value), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", strings.ReplaceAll(name, "/", "."), value, err)
	}
	return nil
}

func ensureRouterDevice(addrs ...netip.Addr) error {
	l, err := netlink.LinkByName(RouterDevice)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("find %s: %w", RouterDevice, err)
		}
		l = &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: RouterDevice}, PeerName: routerPeer}
		if err := netlink.LinkAdd(l); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create %s: %w", RouterDevice, err)
		}
		if l, err = netlink.LinkByName(RouterDevice); err != nil {
			return fmt.Errorf("find %s: %w", RouterDevice, err)
		}
	}
	want := map[netip.Addr]bool{}
	for _, a := range addrs {
		if a.IsValid() {
			want[a] = true
		}
	}
	have, err := netlink.AddrList(l, unix.AF_INET)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", RouterDevice, err)
	}
	for _, a := range have {
		ip, _ := netip.AddrFromSlice(a.IP.To4())
		if want[ip] {
			delete(want, ip)
			continue
		}
		// An address from an earlier CIDR (the node was deleted and came
		// back with another one) must go.
		_ = netlink.AddrDel(l, &a)
	}
	for ip := range want {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}}
		if err := netlink.AddrAdd(l, addr); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add %s to %s: %w", ip, RouterDevice, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", RouterDevice, err)
	}
	if peer, err := netlink.LinkByName(routerPeer); err == nil {
		if err := netlink.LinkSetUp(peer); err != nil {
			return fmt.Errorf("set %s up: %w", routerPeer, err)
		}
	}
	return nil
}

// Masquerade installs the rule that rewrites the source of endpoint
// traffic leaving the cluster pool to the node's address on the outgoing
// device. With a tunnel port it also exempts the overlay's outer UDP
// packets from connection tracking: the NAT chain turns conntrack on for
// every packet of the node, and tracking the VXLAN packets only costs a
// hash lookup and an entry per packet in each direction (the policy
// datapath keeps its own, inner, conntrack).
func Masquerade(pool netip.Prefix, tunnelPort int) error {
	notrack := ""
	if tunnelPort > 0 {
		notrack = fmt.Sprintf(`	chain raw_prerouting {
		type filter hook prerouting priority raw; policy accept;
		udp dport %[1]d notrack comment "nori: VXLAN overlay, untracked"
	}
	chain raw_output {
		type filter hook output priority raw; policy accept;
		udp dport %[1]d notrack comment "nori: VXLAN overlay, untracked"
	}
`, tunnelPort)
	}
	script := fmt.Sprintf(`table ip %[1]s
delete table ip %[1]s
table ip %[1]s {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %[2]s ip daddr != %[2]s oifname != "%[3]s" masquerade comment "nori: endpoints to non-cluster addresses"
	}
%[4]s}
`, nftTable, pool, RouterDevice, notrack)
	if _, err := exec.LookPath("nft"); err != nil {
		return fmt.Errorf("masquerade needs the nft command (apt-get install nftables): %w", err)
	}
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("install masquerade rule: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// MasqueradeActive reports whether Nori's masquerade table is present.
func MasqueradeActive() error {
	out, err := exec.Command("nft", "list", "table", "ip", nftTable).CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft list table ip %s: %w: %s", nftTable, err, strings.TrimSpace(string(out)))
	}
	if !strings.Contains(string(out), "masquerade") {
		return errors.New("masquerade rule missing")
	}
	return nil
}

// DefaultRouteIPv4 returns the first IPv4 address of the device that holds
// the default route, the agent's default --ipv4-node.
func DefaultRouteIPv4() (netip.Addr, int, error) {
	routes, err := netlink.RouteList(nil, unix.AF_INET)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() != "0.0.0.0/0" {
			continue
		}
		l, err := netlink.LinkByIndex(r.LinkIndex)
		if err != nil {
			continue
		}
		addrs, err := netlink.AddrList(l, unix.AF_INET)
		if err != nil || len(addrs) == 0 {
			continue
		}
		a, _ := netip.AddrFromSlice(addrs[0].IP.To4())
		return a, l.Attrs().MTU, nil
	}
	return netip.Addr{}, 0, errors.New("no IPv4 default route: pass --ipv4-node")
}

// DeviceMTUFor returns the MTU of the device holding addr.
func DeviceMTUFor(addr netip.Addr) (int, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return 0, fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		addrs, err := netlink.AddrList(l, unix.AF_INET)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && ip == addr {
				return l.Attrs().MTU, nil
			}
		}
	}
	return 0, fmt.Errorf("no device holds %s (check --ipv4-node)", addr)
}
