// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/nori-net/nori/agent/datapath/bpfobj"
)

// These tests run the programs on crafted packets with BPF_PROG_TEST_RUN;
// the maps are private to the test (not pinned).

const (
	tcActOK       = 0
	tcActShot     = 2
	tcActRedirect = 7
)

func loadUnpinned(t *testing.T) *bpfobj.DatapathObjects {
	t.Helper()
	requireTools(t)
	spec, err := bpfobj.LoadDatapath()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	var objs bpfobj.DatapathObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { objs.Close() })
	return &objs
}

var (
	srcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	gwMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	dstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	dstGW  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
)

// ipv4Packet builds Ethernet + IPv4 + an 8-byte UDP header and payload.
func ipv4Packet(src, dst string, ttl uint8) []byte {
	payload := []byte("nori-test")
	pkt := make([]byte, 14+20+8+len(payload))
	copy(pkt[0:6], gwMAC)
	copy(pkt[6:12], srcMAC)
	binary.BigEndian.PutUint16(pkt[12:14], 0x0800)
	ip := pkt[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(20+8+len(payload)))
	ip[8] = ttl
	ip[9] = 17
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:12], ipChecksum(ip))
	udp := pkt[34:42]
	binary.BigEndian.PutUint16(udp[0:2], 40000)
	binary.BigEndian.PutUint16(udp[2:4], 53)
	binary.BigEndian.PutUint16(udp[4:6], uint16(8+len(payload)))
	copy(pkt[42:], payload)
	return pkt
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		if i == 10 {
			continue
		}
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func TestFromContainerProgram(t *testing.T) {
	objs := loadUnpinned(t)
	dst := Endpoint{IP: netip.MustParseAddr("10.200.1.3"), IfIndex: 42, MAC: dstMAC, NodeMAC: dstGW, Identity: 1001, ID: 2}
	k, v, err := endpointToBPF(dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := objs.NoriEndpoints.Put(k, &v); err != nil {
		t.Fatal(err)
	}

	arp := make([]byte, 60)
	copy(arp[0:6], net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(arp[6:12], srcMAC)
	binary.BigEndian.PutUint16(arp[12:14], 0x0806)

	badVersion := ipv4Packet("10.200.1.2", "10.200.1.3", 64)
	badVersion[14] = 0x65

	tests := []struct {
		name    string
		pkt     []byte
		want    uint32
		wantTTL uint8
		rewrite bool
	}{
		{"arp passes", arp, tcActOK, 0, false},
		{"to local endpoint is redirected", ipv4Packet("10.200.1.2", "10.200.1.3", 64), tcActRedirect, 63, true},
		{"to elsewhere passes", ipv4Packet("10.200.1.2", "192.0.2.1", 64), tcActOK, 64, false},
		{"ttl 1 is left to the kernel", ipv4Packet("10.200.1.2", "10.200.1.3", 1), tcActOK, 1, false},
		{"bad header is dropped", badVersion, tcActShot, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := make([]byte, len(tt.pkt)+64)
			ret, err := objs.NoriFromContainer.Run(&ebpf.RunOptions{Data: tt.pkt, DataOut: out})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if ret != tt.want {
				t.Fatalf("verdict = %d, want %d", ret, tt.want)
			}
			if tt.wantTTL == 0 {
				return
			}
			out = out[:len(tt.pkt)]
			ip := out[14:34]
			if ip[8] != tt.wantTTL {
				t.Errorf("ttl = %d, want %d", ip[8], tt.wantTTL)
			}
			if got, want := binary.BigEndian.Uint16(ip[10:12]), ipChecksum(ip); got != want {
				t.Errorf("ip checksum = %#04x, want %#04x", got, want)
			}
			wantDst, wantSrc := gwMAC, srcMAC
			if tt.rewrite {
				wantDst, wantSrc = dstMAC, dstGW
			}
			if !bytes.Equal(out[0:6], wantDst) || !bytes.Equal(out[6:12], wantSrc) {
				t.Errorf("macs = %s <- %s, want %s <- %s",
					net.HardwareAddr(out[0:6]), net.HardwareAddr(out[6:12]), wantDst, wantSrc)
			}
		})
	}
}

func TestDropEventAndMetrics(t *testing.T) {
	objs := loadUnpinned(t)
	rd, err := ringbuf.NewReader(objs.NoriEvents)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()

	pkt := ipv4Packet("10.200.1.2", "10.200.1.3", 64)
	pkt[14] = 0x44 // IHL 4: malformed
	ret, err := objs.NoriFromContainer.Run(&ebpf.RunOptions{Data: pkt})
	if err != nil {
		t.Fatal(err)
	}
	if ret != tcActShot {
		t.Fatalf("verdict = %d, want %d", ret, tcActShot)
	}

	rd.SetDeadline(time.Now().Add(2 * time.Second))
	rec, err := rd.Read()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("no drop event in the ring buffer")
	}
	if err != nil {
		t.Fatal(err)
	}
	ev, err := ParseEvent(rec.RawSample)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != EventDrop || ev.Reason != ReasonDropInvalid || ev.Dir != DirEgress || ev.Len != uint32(len(pkt)) {
		t.Fatalf("event = %+v, want drop-invalid egress len %d", ev, len(pkt))
	}

	// Without policy the to-container program only counts.
	if ret, err := objs.NoriToContainer.Run(&ebpf.RunOptions{Data: ipv4Packet("192.0.2.1", "10.200.1.3", 64)}); err != nil || ret != tcActOK {
		t.Fatalf("to_container = %d, %v; want %d", ret, err, tcActOK)
	}

	var vs []bpfobj.DatapathNoriMetricsValue
	want := map[bpfobj.DatapathNoriMetricsKey]uint64{
		{Reason: uint8(ReasonDropInvalid), Dir: uint8(DirEgress)}: 1,
		{Reason: uint8(ReasonPass), Dir: uint8(DirIngress)}:       1,
	}
	for k, n := range want {
		if err := objs.NoriMetrics.Lookup(&k, &vs); err != nil {
			t.Fatalf("metric %+v: %v", k, err)
		}
		var sum uint64
		for _, v := range vs {
			sum += v.Packets
		}
		if sum != n {
			t.Fatalf("metric %+v = %d packets, want %d", k, sum, n)
		}
	}
}

// TestTunnelPrograms covers the overlay verdicts that the two-node test
// cannot provoke on purpose.
func TestTunnelPrograms(t *testing.T) {
	objs := loadUnpinned(t)
	cfg := NodeConfig{
		RouterIP:      netip.MustParseAddr("10.201.1.1"),
		ClusterCIDR:   netip.MustParsePrefix("10.200.0.0/14"),
		NodeIP:        netip.MustParseAddr("172.31.200.1"),
		TunnelIfIndex: 99,
		Flags:         ConfigTunnel,
	}
	tunnel, err := configToBPF(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// SetConfig refuses tunnel mode without a device; the program must
	// still cope with such a map value.
	noTunnelIfindex := tunnel
	noTunnelIfindex.TunnelIfindex = 0
	native := tunnel
	native.Flags = 0
	for _, e := range []IPCacheEntry{
		{Prefix: netip.MustParsePrefix("10.201.2.0/24"), Identity: 6, TunnelEndpoint: netip.MustParseAddr("172.31.200.2"), Flags: IPCacheRemote},
		// This node's own CIDR, published like the others.
		{Prefix: netip.MustParsePrefix("10.201.1.0/24"), Identity: 6, TunnelEndpoint: netip.MustParseAddr("172.31.200.1"), Flags: IPCacheRemote},
		// A remote prefix whose node address is not known yet.
		{Prefix: netip.MustParsePrefix("10.202.0.0/24"), Identity: 6, Flags: IPCacheRemote},
	} {
		k, v, err := ipcacheToBPF(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := objs.NoriIpcache.Put(&k, &v); err != nil {
			t.Fatal(err)
		}
	}

	arp := make([]byte, 60)
	binary.BigEndian.PutUint16(arp[12:14], 0x0806)

	tests := []struct {
		name    string
		cfg     bpfobj.DatapathNoriNodeConfig
		prog    func() *ebpf.Program
		pkt     []byte
		want    uint32
		wantTTL uint8 // 0: not checked
		reason  Reason
		dir     Direction
	}{
		{"container to remote is encapsulated", tunnel, func() *ebpf.Program { return objs.NoriFromContainer },
			ipv4Packet("10.201.1.2", "10.201.2.2", 64), tcActRedirect, 63, ReasonRedirectTunnel, DirEgress},
		{"remote without tunnel endpoint is dropped", tunnel, func() *ebpf.Program { return objs.NoriFromContainer },
			ipv4Packet("10.201.1.2", "10.202.0.9", 64), tcActShot, 0, ReasonDropNoTunnel, DirEgress},
		{"tunnel without device is dropped", noTunnelIfindex, func() *ebpf.Program { return objs.NoriFromContainer },
			ipv4Packet("10.201.1.2", "10.201.2.2", 64), tcActShot, 0, ReasonDropNoTunnel, DirEgress},
		{"native routing leaves it to the kernel", native, func() *ebpf.Program { return objs.NoriFromContainer },
			ipv4Packet("10.201.1.2", "10.201.2.2", 64), tcActOK, 64, ReasonPass, DirEgress},
		{"own CIDR is left to the kernel", tunnel, func() *ebpf.Program { return objs.NoriFromContainer },
			ipv4Packet("10.201.1.2", "10.201.1.1", 64), tcActOK, 64, ReasonPass, DirEgress},
		{"world is left to the kernel", tunnel, func() *ebpf.Program { return objs.NoriFromContainer },
			ipv4Packet("10.201.1.2", "192.0.2.1", 64), tcActOK, 64, ReasonPass, DirEgress},
		{"node traffic into the overlay gets a key", tunnel, func() *ebpf.Program { return objs.NoriToOverlay },
			ipv4Packet("10.201.1.1", "10.201.2.2", 64), tcActOK, 64, ReasonEncapHost, DirEgress},
		{"node traffic without tunnel endpoint is dropped", tunnel, func() *ebpf.Program { return objs.NoriToOverlay },
			ipv4Packet("10.201.1.1", "192.0.2.1", 64), tcActShot, 0, ReasonDropNoTunnel, DirEgress},
		{"arp into the overlay is dropped", tunnel, func() *ebpf.Program { return objs.NoriToOverlay },
			arp, tcActShot, 0, ReasonDropNoTunnel, DirEgress},
		{"overlay packet without key is dropped", tunnel, func() *ebpf.Program { return objs.NoriFromOverlay },
			ipv4Packet("10.201.2.2", "10.201.1.2", 64), tcActShot, 0, ReasonDropTunnelKey, DirIngress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := objs.NoriConfig.Put(uint32(0), &tt.cfg); err != nil {
				t.Fatal(err)
			}
			key := bpfobj.DatapathNoriMetricsKey{Reason: uint8(tt.reason), Dir: uint8(tt.dir)}
			count := func() uint64 {
				var vs []bpfobj.DatapathNoriMetricsValue
				if err := objs.NoriMetrics.Lookup(&key, &vs); err != nil {
					return 0
				}
				var sum uint64
				for _, v := range vs {
					sum += v.Packets
				}
				return sum
			}
			before := count()
			out := make([]byte, len(tt.pkt)+64)
			ret, err := tt.prog().Run(&ebpf.RunOptions{Data: tt.pkt, DataOut: out})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if ret != tt.want {
				t.Fatalf("verdict = %d, want %d", ret, tt.want)
			}
			if got := count(); got != before+1 {
				t.Fatalf("%s/%s counter = %d, want %d", tt.reason, tt.dir, got, before+1)
			}
			if tt.wantTTL != 0 {
				if ttl := out[14+8]; ttl != tt.wantTTL {
					t.Fatalf("ttl = %d, want %d", ttl, tt.wantTTL)
				}
			}
		})
	}
}
