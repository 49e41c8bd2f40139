// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

// Reserved identities, numbered as in Cilium and in agent/identity (not
// imported: that package pulls in etcd, and this one must stay pure).
const (
	IDAny        uint32 = 0
	IDHost       uint32 = 1
	IDWorld      uint32 = 2
	IDUnmanaged  uint32 = 3
	IDHealth     uint32 = 4
	IDInit       uint32 = 5
	IDRemoteNode uint32 = 6
)

var reservedIdentities = []Identity{
	{IDHost, []string{"reserved:host"}},
	{IDWorld, []string{"reserved:world"}},
	{IDUnmanaged, []string{"reserved:unmanaged"}},
	{IDHealth, []string{"reserved:health"}},
	{IDInit, []string{"reserved:init"}},
	{IDRemoteNode, []string{"reserved:remote-node"}},
}

// Identity is a numeric identity with its "source:key=value" labels.
type Identity struct {
	ID     uint32
	Labels []string
}

// Entities Cilium defines and Nori accepts.
const (
	EntityAll        Entity = "all"
	EntityWorld      Entity = "world"
	EntityWorldIPv4  Entity = "world-ipv4"
	EntityWorldIPv6  Entity = "world-ipv6"
	EntityCluster    Entity = "cluster"
	EntityHost       Entity = "host"
	EntityRemoteNode Entity = "remote-node"
	EntityHealth     Entity = "health"
	EntityInit       Entity = "init"
	EntityUnmanaged  Entity = "unmanaged"
	EntityNone       Entity = "none"
)

// entityReserved maps an entity to the reserved label its identities
// carry. world-ipv4/-ipv6 are plain world: Nori allocates no separate
// per-family world identities (Cilium does so only in dual-stack).
var entityReserved = map[Entity]string{
	EntityWorld:      "world",
	EntityWorldIPv4:  "world",
	EntityWorldIPv6:  "world",
	EntityHost:       "host",
	EntityRemoteNode: "remote-node",
	EntityHealth:     "health",
	EntityInit:       "init",
	EntityUnmanaged:  "unmanaged",
}

// unsupportedEntities exist in Cilium but need Kubernetes or an ingress
// controller; naming them beats a bare "unknown entity".
var unsupportedEntities = map[Entity]string{
	"ingress":        "Nori has no ingress controller",
	"kube-apiserver": "it needs Kubernetes",
}

func knownEntity(e Entity) bool {
	switch e {
	case EntityAll, EntityCluster, EntityNone:
		return true
	}
	_, ok := entityReserved[e]
	return ok
}

// isWorld: identities outside the cluster are the world identity and the
// CIDR identities the agent allocates for prefixes.
func isWorld(ls Labels) bool {
	for _, l := range ls {
		if l.Source == SourceCIDR || (l.Source == SourceReserved && l.Key == "world") {
			return true
		}
	}
	return false
}

func hasReserved(ls Labels, name string) bool {
	for _, l := range ls {
		if l.Source == SourceReserved && l.Key == name {
			return true
		}
	}
	return false
}

// entitySelects reports whether entity e selects an identity with labels
// ls; "all" is handled by the caller as the any-peer wildcard.
func entitySelects(e Entity, ls Labels) bool {
	switch e {
	case EntityAll:
		return true
	case EntityNone:
		return false
	case EntityCluster:
		// Everything that is not world: endpoints of every host and the
		// reserved in-cluster identities (host, remote-node, health, init,
		// unmanaged), as Cilium's cluster entity.
		return !isWorld(ls)
	case EntityWorld, EntityWorldIPv4, EntityWorldIPv6:
		return isWorld(ls)
	}
	name, ok := entityReserved[e]
	return ok && hasReserved(ls, name)
}
