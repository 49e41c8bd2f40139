// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/datapath/bpfobj"
)

func TestPolicyKeyCodec(t *testing.T) {
	tests := []struct {
		name      string
		in        PolicyKey
		wantLen   uint32
		wantPort  [2]byte // in-memory bytes of dport
		wantErr   string
		wantProto uint8
	}{
		{"any proto", PolicyKey{EndpointID: 3, Dir: DirIngress, Identity: 1001}, 56, [2]byte{}, "", 0},
		{"proto any port", PolicyKey{EndpointID: 3, Dir: DirEgress, Proto: 17}, 64, [2]byte{}, "", 17},
		{"one port", PolicyKey{EndpointID: 3, Dir: DirEgress, Identity: 2, Proto: 6, Port: 443, PortBits: 16}, 80, [2]byte{0x01, 0xbb}, "", 6},
		{"port prefix", PolicyKey{EndpointID: 3, Dir: DirIngress, Proto: 6, Port: 8080, PortBits: 13}, 77, [2]byte{0x1f, 0x90}, "", 6},
		{"icmp echo", PolicyKey{EndpointID: 1, Dir: DirIngress, Proto: 1, Port: 8, PortBits: 16}, 80, [2]byte{0, 8}, "", 1},
		{"too many bits", PolicyKey{Dir: DirIngress, Proto: 6, Port: 80, PortBits: 17}, 0, [2]byte{}, "exceed", 0},
		{"bits without proto", PolicyKey{Dir: DirIngress, PortBits: 16, Port: 80}, 0, [2]byte{}, "any protocol", 0},
		{"port without proto", PolicyKey{Dir: DirIngress, Port: 80}, 0, [2]byte{}, "any protocol", 0},
		{"bits beyond prefix", PolicyKey{Dir: DirIngress, Proto: 6, Port: 8081, PortBits: 13}, 0, [2]byte{}, "beyond", 0},
		{"port with zero bits", PolicyKey{Dir: DirIngress, Proto: 6, Port: 1}, 0, [2]byte{}, "beyond", 0},
		{"no direction", PolicyKey{Proto: 6}, 0, [2]byte{}, "direction", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := policyKeyToBPF(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Prefixlen != tt.wantLen || k.Proto != tt.wantProto {
				t.Fatalf("prefixlen/proto = %d/%d, want %d/%d", k.Prefixlen, k.Proto, tt.wantLen, tt.wantProto)
			}
			var buf bytes.Buffer
			binary.Write(&buf, binary.NativeEndian, k)
			b := buf.Bytes()
			if len(b) != 16 {
				t.Fatalf("key is %d bytes, want 16", len(b))
			}
			if got := [2]byte{b[12], b[13]}; got != tt.wantPort {
				t.Fatalf("dport bytes = %v, want %v (network order)", got, tt.wantPort)
			}
			if id := binary.NativeEndian.Uint32(b[4:8]); id != tt.in.Identity {
				t.Fatalf("identity = %d, want %d", id, tt.in.Identity)
			}
			if got := policyKeyFromBPF(k); got != tt.in {
				t.Fatalf("round trip = %+v, want %+v", got, tt.in)
			}
		})
	}
}

func TestPolicyValueCodec(t *testing.T) {
	tests := []struct {
		in      PolicyValue
		wantErr bool
	}{
		{PolicyValue{Verdict: PolicyAllow, RuleID: 7}, false},
		{PolicyValue{Verdict: PolicyDeny}, false},
		{PolicyValue{Verdict: PolicyAllow, Redirect: true, ProxyPort: 15001}, false},
		{PolicyValue{Verdict: 0}, true},
		{PolicyValue{Verdict: PolicyDeny, Redirect: true, ProxyPort: 1}, true},
		// No listener: valid, the datapath denies it (TestProxyRedirect).
		{PolicyValue{Verdict: PolicyAllow, Redirect: true}, false},
	}
	for _, tt := range tests {
		v, err := policyValueToBPF(tt.in)
		if (err != nil) != tt.wantErr {
			t.Fatalf("policyValueToBPF(%+v) error = %v, want error %v", tt.in, err, tt.wantErr)
		}
		if err != nil {
			continue
		}
		v.Packets = 5
		got := policyEntryFromBPF(bpfobj.DatapathNoriPolicyKey{Prefixlen: 56, Dir: uint8(DirEgress)}, v)
		if got.Value != tt.in || got.Packets != 5 {
			t.Fatalf("round trip = %+v, want %+v with 5 packets", got, tt.in)
		}
	}
}

func TestCTCodec(t *testing.T) {
	k := bpfobj.DatapathNoriCtKey{
		Saddr: be32(netip.MustParseAddr("10.0.0.1")),
		Daddr: be32(netip.MustParseAddr("10.0.0.2")),
		Sport: htons(40000),
		Dport: htons(80),
		Proto: 6,
	}
	v := bpfobj.DatapathNoriCtValue{
		Expires: 5_000_000_000, Flags: uint32(CTReply | CTSeenReply),
		SrcIdentity: 1001, DstIdentity: 1002, EpId: 4, RuleId: 9,
	}
	got := ctFromBPF(k, v, 2_000_000_000)
	want := CTEntry{
		Proto: 6, Src: netip.MustParseAddrPort("10.0.0.1:40000"), Dst: netip.MustParseAddrPort("10.0.0.2:80"),
		Reply: true, Flags: CTReply | CTSeenReply, SrcIdentity: 1001, DstIdentity: 1002, EndpointID: 4, RuleID: 9,
		Expires: 3 * time.Second,
	}
	if got != want {
		t.Fatalf("ctFromBPF = %+v, want %+v", got, want)
	}
	if s := got.Flags.String(); s != "reply,seen-reply" {
		t.Fatalf("flags = %q", s)
	}
	if s := CTFlags(0).String(); s != "new" {
		t.Fatalf("no flags = %q", s)
	}
}
