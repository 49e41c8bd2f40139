// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/nori-net/nori/agent/datapath/bpfobj"
)

func TestEndpointCodec(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	nodeMAC := net.HardwareAddr{2, 0, 0, 0, 0, 2}
	good := Endpoint{IP: netip.MustParseAddr("10.1.2.3"), IfIndex: 7, MAC: mac, NodeMAC: nodeMAC, Identity: 300, ID: 12, Flags: EndpointProxy}
	tests := []struct {
		name    string
		mutate  func(*Endpoint)
		wantErr string
	}{
		{"valid", func(*Endpoint) {}, ""},
		{"ipv6", func(e *Endpoint) { e.IP = netip.MustParseAddr("fd00::1") }, "not an IPv4 address"},
		{"no ifindex", func(e *Endpoint) { e.IfIndex = 0 }, "no interface index"},
		{"short mac", func(e *Endpoint) { e.MAC = mac[:4] }, "endpoint MAC"},
		{"no node mac", func(e *Endpoint) { e.NodeMAC = nil }, "endpoint node MAC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := good
			tt.mutate(&e)
			k, v, err := endpointToBPF(e)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k != [4]byte{10, 1, 2, 3} {
				t.Fatalf("key = %v, want network order 10.1.2.3", k)
			}
			if got := endpointFromBPF(k, v); !endpointEqual(got, e) {
				t.Fatalf("round trip = %+v, want %+v", got, e)
			}
		})
	}
}

// The C side reads addresses as network-order bytes; check the bytes
// cilium/ebpf will write for the bpf2go structs.
func TestNetworkOrderInMemory(t *testing.T) {
	k, v, err := ipcacheToBPF(IPCacheEntry{
		Prefix:         netip.MustParsePrefix("10.1.2.77/24"),
		Identity:       5,
		TunnelEndpoint: netip.MustParseAddr("172.30.0.2"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	binary.Write(&buf, binary.NativeEndian, k)
	if want := append(binary.NativeEndian.AppendUint32(nil, 24), 10, 1, 2, 0); !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("ipcache key bytes = %v, want %v (prefix masked, address in network order)", buf.Bytes(), want)
	}
	buf.Reset()
	binary.Write(&buf, binary.NativeEndian, v)
	if got := buf.Bytes()[4:8]; !bytes.Equal(got, []byte{172, 30, 0, 2}) {
		t.Fatalf("tunnel endpoint bytes = %v", got)
	}
}

func TestIPCacheCodec(t *testing.T) {
	tests := []struct {
		in      IPCacheEntry
		want    IPCacheEntry
		wantErr bool
	}{
		{
			in:   IPCacheEntry{Prefix: netip.MustParsePrefix("10.1.2.77/24"), Identity: 5, TunnelEndpoint: netip.MustParseAddr("172.30.0.2"), Flags: IPCacheRemote},
			want: IPCacheEntry{Prefix: netip.MustParsePrefix("10.1.2.0/24"), Identity: 5, TunnelEndpoint: netip.MustParseAddr("172.30.0.2"), Flags: IPCacheRemote},
		},
		{
			in:   IPCacheEntry{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Identity: 2},
			want: IPCacheEntry{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Identity: 2},
		},
		{in: IPCacheEntry{Prefix: netip.MustParsePrefix("fd00::/64")}, wantErr: true},
		{in: IPCacheEntry{}, wantErr: true},
		{in: IPCacheEntry{Prefix: netip.MustParsePrefix("10.0.0.0/8"), TunnelEndpoint: netip.MustParseAddr("fd00::1")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in.Prefix.String(), func(t *testing.T) {
			k, v, err := ipcacheToBPF(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ipcacheFromBPF(k, v); got != tt.want {
				t.Fatalf("round trip = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConfigCodec(t *testing.T) {
	tests := []struct {
		name    string
		in      NodeConfig
		wantErr bool
	}{
		{"full", NodeConfig{
			RouterIP:      netip.MustParseAddr("10.0.1.1"),
			ClusterCIDR:   netip.MustParsePrefix("10.0.0.0/8"),
			NodeIP:        netip.MustParseAddr("172.30.0.1"),
			TunnelIfIndex: 9,
			Flags:         ConfigTunnel | ConfigPolicy,
		}, false},
		{"no node ip", NodeConfig{RouterIP: netip.MustParseAddr("169.254.1.1"), ClusterCIDR: netip.MustParsePrefix("10.200.0.0/16")}, false},
		{"no router", NodeConfig{ClusterCIDR: netip.MustParsePrefix("10.0.0.0/8")}, true},
		{"no cidr", NodeConfig{RouterIP: netip.MustParseAddr("10.0.1.1")}, true},
		{"negative tunnel", NodeConfig{RouterIP: netip.MustParseAddr("10.0.1.1"), ClusterCIDR: netip.MustParsePrefix("10.0.0.0/8"), TunnelIfIndex: -1}, true},
		{"tunnel without device", NodeConfig{RouterIP: netip.MustParseAddr("10.0.1.1"), ClusterCIDR: netip.MustParsePrefix("10.0.0.0/8"), Flags: ConfigTunnel}, true},
		{"native with device", NodeConfig{RouterIP: netip.MustParseAddr("10.0.1.1"), ClusterCIDR: netip.MustParsePrefix("10.0.0.0/8"), TunnelIfIndex: 9}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := configToBPF(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := configFromBPF(v); got != tt.in {
				t.Fatalf("round trip = %+v, want %+v", got, tt.in)
			}
		})
	}
}

func TestParseEvent(t *testing.T) {
	raw := bpfobj.DatapathNoriEvent{
		Type:    uint8(EventDrop),
		Subtype: uint8(ReasonDropInvalid),
		Dir:     uint8(DirEgress),
		Proto:   6,
		EpId:    3,
		Ifindex: 12,
		Len:     98,
		Saddr:   be32(netip.MustParseAddr("10.0.0.1")),
		Daddr:   be32(netip.MustParseAddr("10.0.0.2")),
		Sport:   binary.NativeEndian.Uint16([]byte{0x1f, 0x90}), // 8080
		Dport:   binary.NativeEndian.Uint16([]byte{0x01, 0xbb}), // 443
	}
	var buf bytes.Buffer
	binary.Write(&buf, binary.NativeEndian, raw)
	ev, err := ParseEvent(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := Event{
		Type: EventDrop, Reason: ReasonDropInvalid, Subtype: uint8(ReasonDropInvalid), Dir: DirEgress,
		Proto: 6, EndpointID: 3, IfIndex: 12, Len: 98,
		Src: netip.MustParseAddrPort("10.0.0.1:8080"), Dst: netip.MustParseAddrPort("10.0.0.2:443"),
	}
	if ev != want {
		t.Fatalf("ParseEvent = %+v, want %+v", ev, want)
	}
	if _, err := ParseEvent(buf.Bytes()[:10]); err == nil {
		t.Fatal("short record decoded without error")
	}

	// A trace from the overlay: the subtype is the trace point, the
	// tunnel endpoint the sending node.
	raw = bpfobj.DatapathNoriEvent{
		Type:           uint8(EventTrace),
		Subtype:        uint8(TraceFromOverlay),
		Dir:            uint8(DirIngress),
		SrcIdentity:    1001,
		DstIdentity:    2001,
		TunnelEndpoint: be32(netip.MustParseAddr("172.31.200.1")),
	}
	buf.Reset()
	binary.Write(&buf, binary.NativeEndian, raw)
	if ev, err = ParseEvent(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	want = Event{
		Type: EventTrace, TracePoint: TraceFromOverlay, Subtype: uint8(TraceFromOverlay), Dir: DirIngress,
		SrcIdentity: 1001, DstIdentity: 2001, TunnelEndpoint: netip.MustParseAddr("172.31.200.1"),
		Src: netip.MustParseAddrPort("0.0.0.0:0"), Dst: netip.MustParseAddrPort("0.0.0.0:0"),
	}
	if ev != want {
		t.Fatalf("ParseEvent(trace) = %+v, want %+v", ev, want)
	}
	if got := ev.TracePoint.String(); got != "from-overlay" {
		t.Fatalf("TracePoint.String() = %q", got)
	}
}

func TestReasonString(t *testing.T) {
	tests := []struct {
		r    Reason
		want string
		drop bool
	}{
		{ReasonPass, "pass", false},
		{ReasonRedirectLocal, "redirect-local", false},
		{ReasonDropInvalid, "drop-invalid", true},
		{ReasonDecapLocal, "decap-local", false},
		{ReasonEncapHost, "encap-host", false},
		{ReasonDropTunnelKey, "drop-tunnel-key", true},
		{Reason(250), "reason-250", true},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("Reason(%d).String() = %q, want %q", uint8(tt.r), got, tt.want)
		}
		if got := tt.r.IsDrop(); got != tt.drop {
			t.Errorf("Reason(%d).IsDrop() = %v, want %v", uint8(tt.r), got, tt.drop)
		}
	}
}

func endpointEqual(x, y Endpoint) bool {
	return x.IP == y.IP && x.IfIndex == y.IfIndex && x.MAC.String() == y.MAC.String() &&
		x.NodeMAC.String() == y.NodeMAC.String() && x.Identity == y.Identity && x.ID == y.ID && x.Flags == y.Flags
}
