// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipcache

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// KeyPrefix is where the entries live, relative to the cluster prefix.
const KeyPrefix = "ipcache/"

// Entry is one endpoint address as stored in etcd.
type Entry struct {
	IP       netip.Addr `json:"ip"`
	Identity uint32     `json:"identity"`
	// HostIP is the underlay address of the node that hosts the endpoint,
	// the tunnel endpoint other nodes send its traffic to.
	HostIP netip.Addr `json:"hostIP"`
	Node   string     `json:"node"`
	// Created is when the owning agent was told about the endpoint (unix
	// nanoseconds); other nodes measure propagation from it.
	Created int64 `json:"created,omitempty"`
}

// Key is the etcd key of an endpoint address.
func Key(ip netip.Addr) string { return KeyPrefix + ip.String() }

// parseKey returns the address of an ipcache key.
func parseKey(key string) (netip.Addr, bool) {
	s, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil
}

func decodeEntry(key string, value []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(value, &e); err != nil {
		return e, fmt.Errorf("decode %s: %w", key, err)
	}
	ip, ok := parseKey(key)
	if !ok || ip != e.IP || !ip.Is4() {
		return e, fmt.Errorf("decode %s: key and address %s disagree", key, e.IP)
	}
	return e, nil
}

// sameContent ignores Created, which a re-put may change.
func (e Entry) sameContent(o Entry) bool {
	e.Created, o.Created = 0, 0
	return e == o
}
