// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipcache

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/datapath"
)

func TestConvert(t *testing.T) {
	pfx, addr := netip.MustParsePrefix, netip.MustParseAddr
	list := []datapath.IPCacheEntry{
		{Prefix: pfx("172.30.0.2/32"), Identity: 6},
		{Prefix: pfx("10.0.10.0/24"), TunnelEndpoint: addr("172.30.0.3"), Flags: datapath.IPCacheRemote},
		{Prefix: pfx("10.0.2.9/32"), Identity: 300, TunnelEndpoint: addr("172.30.0.2"), Flags: datapath.IPCacheRemote},
		{Prefix: pfx("10.0.2.0/24"), TunnelEndpoint: addr("172.30.0.2"), Flags: datapath.IPCacheRemote},
		{Prefix: pfx("10.0.1.5/32"), Identity: 301},
	}
	wantEntries := []api.BPFIPCacheEntry{
		{Prefix: "10.0.1.5/32", Identity: 301},
		{Prefix: "10.0.2.0/24", TunnelEndpoint: "172.30.0.2", Flags: []string{"remote"}},
		{Prefix: "10.0.2.9/32", Identity: 300, TunnelEndpoint: "172.30.0.2", Flags: []string{"remote"}},
		{Prefix: "10.0.10.0/24", TunnelEndpoint: "172.30.0.3", Flags: []string{"remote"}},
		{Prefix: "172.30.0.2/32", Identity: 6},
	}
	if got := APIEntries(list); !reflect.DeepEqual(got, wantEntries) {
		t.Errorf("APIEntries:\n got %+v\nwant %+v", got, wantEntries)
	}
	wantTunnels := []api.BPFTunnelEntry{
		{Prefix: "10.0.2.0/24", TunnelEndpoint: "172.30.0.2"},
		{Prefix: "10.0.10.0/24", TunnelEndpoint: "172.30.0.3"},
	}
	if got := APITunnelsFromIPCache(list); !reflect.DeepEqual(got, wantTunnels) {
		t.Errorf("APITunnelsFromIPCache:\n got %+v\nwant %+v", got, wantTunnels)
	}
	if got := APITunnels(nil); got == nil || len(got) != 0 {
		t.Errorf("APITunnels(nil) = %#v, want an empty list", got)
	}
}
