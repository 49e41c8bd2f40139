// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package identity maps label sets to numeric security identities, shared
// by every host through etcd, with Cilium's reserved identities built in.
//
// Keys (relative to the kvstore cluster prefix):
//
//	identities/id/<N>                label key, e.g. "container:name=app1;"; no lease
//	identities/labels/<sha256(key)>  N; no lease; written with id/<N> in one transaction
//	identities/usage/<N>/<node>      empty; the node's session lease: "node uses N"
//
// The id and labels keys are created together only if neither exists, so
// allocators racing on several hosts for the same labels converge on one
// number. Identities no node uses any more (no usage keys) can be garbage
// collected later; nothing deletes them yet.
package identity

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/nori-net/nori/agent/api"
)

// Reserved identities, numbered as in Cilium.
const (
	Unknown    uint32 = 0
	Host       uint32 = 1
	World      uint32 = 2
	Unmanaged  uint32 = 3
	Health     uint32 = 4
	Init       uint32 = 5
	RemoteNode uint32 = 6
)

// ClusterIDShift: identities of cluster C lie in [C<<16 + 256, C<<16 + 0xffff],
// as in Cilium, so clusters sharing identities (clustermesh) never clash.
const (
	ClusterIDShift = 16
	MinLocal       = 256
	MaxClusterID   = 255
)

// Range returns the identities a cluster allocates from.
func Range(clusterID uint32) (first, last uint32, err error) {
	if clusterID > MaxClusterID {
		return 0, 0, fmt.Errorf("cluster ID %d above the maximum %d", clusterID, MaxClusterID)
	}
	base := clusterID << ClusterIDShift
	return base + MinLocal, base + 1<<ClusterIDShift - 1, nil
}

var reservedNames = map[uint32]string{
	Host:       "host",
	World:      "world",
	Unmanaged:  "unmanaged",
	Health:     "health",
	Init:       "init",
	RemoteNode: "remote-node",
}

// Identity is a numeric identity and its labels.
type Identity struct {
	ID       uint32
	Labels   Labels
	Reserved bool
}

// API converts the identity for the agent's socket API.
func (i Identity) API() api.Identity {
	// Shown as Cilium prints labels: "reserved:host", not "reserved:host=".
	out := api.Identity{ID: i.ID, Labels: make([]string, 0, len(i.Labels)), Reserved: i.Reserved}
	for _, s := range i.Labels.Strings() {
		out.Labels = append(out.Labels, strings.TrimSuffix(s, "="))
	}
	return out
}

// ReservedIdentities lists the built-in identities in ID order.
func ReservedIdentities() []Identity {
	out := make([]Identity, 0, len(reservedNames))
	for id, name := range reservedNames {
		out = append(out, Identity{ID: id, Labels: Labels{{Source: SourceReserved, Key: name}}, Reserved: true})
	}
	slices.SortFunc(out, func(a, b Identity) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// LookupReserved returns the reserved identity of a label set made of one
// reserved label ("reserved:init"); ok is false for other sets.
func LookupReserved(ls Labels) (uint32, bool) {
	if len(ls) != 1 || ls[0].Source != SourceReserved {
		return 0, false
	}
	for id, name := range reservedNames {
		if name == ls[0].Key {
			return id, true
		}
	}
	return 0, false
}
