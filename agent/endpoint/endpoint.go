// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package endpoint owns the node's endpoints: one per container
// attachment. It creates the veth pair, programs the datapath, resolves
// the container's labels into a security identity and keeps a record of
// each endpoint in the state dir, so that a restarted agent can take its
// endpoints back without touching the traffic that flows meanwhile.
package endpoint

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/nori-net/nori/agent/api"
)

// Endpoint is the persisted record of one container attachment.
type Endpoint struct {
	ID          uint16            `json:"id"`
	ContainerID string            `json:"containerID"`
	IfName      string            `json:"ifName"`
	Netns       string            `json:"netns"`
	Network     string            `json:"network,omitempty"`
	Runtime     string            `json:"runtime,omitempty"`
	Name        string            `json:"name,omitempty"`
	Args        map[string]string `json:"args,omitempty"`
	IPs         []netip.Addr      `json:"ips"`
	HostIfName  string            `json:"hostIfName"`
	// HostOnly: the container end was created in the host namespace and
	// handed to the runtime (Docker moves it); the agent never configures
	// or checks the container side.
	HostOnly bool `json:"hostOnly,omitempty"`
	// RuntimeContainerID is the runtime's container ID when ContainerID
	// is another key (Docker: the endpoint ID).
	RuntimeContainerID string `json:"runtimeContainerID,omitempty"`
	HostIfIndex        int    `json:"hostIfIndex"`
	HostMAC            string `json:"hostMAC"`
	ContainerMAC       string `json:"containerMAC"`
	MTU                int    `json:"mtu"`
	// Labels are the identity-relevant labels, "source:key=value".
	Labels        []string          `json:"labels"`
	Identity      uint32            `json:"identity"`
	State         string            `json:"state"`
	PortMappings  []api.PortMapping `json:"portMappings,omitempty"`
	Created       time.Time         `json:"created"`
	IdentityAfter time.Duration     `json:"identityAfter,omitempty"` // time from create to identity
}

func (e *Endpoint) attachment() api.Attachment {
	return api.Attachment{ContainerID: e.ContainerID, IfName: e.IfName}
}

func (e *Endpoint) hostMAC() net.HardwareAddr {
	m, _ := net.ParseMAC(e.HostMAC)
	return m
}

func (e *Endpoint) containerMAC() net.HardwareAddr {
	m, _ := net.ParseMAC(e.ContainerMAC)
	return m
}

// API returns the endpoint as `nori endpoint list` shows it.
func (e *Endpoint) API() api.Endpoint {
	out := api.Endpoint{
		ID:           e.ID,
		ContainerID:  e.ContainerID,
		IfName:       e.IfName,
		Netns:        e.Netns,
		Network:      e.Network,
		Runtime:      e.Runtime,
		Name:         e.Name,
		Labels:       append([]string{}, e.Labels...),
		Identity:     e.Identity,
		HostIfName:   e.HostIfName,
		HostIfIndex:  e.HostIfIndex,
		MAC:          e.ContainerMAC,
		State:        e.State,
		PortMappings: e.PortMappings,
		Created:      e.Created,
	}
	if len(e.IPs) > 0 {
		out.IPv4 = e.IPs[0].String()
	}
	return out
}

// Datapath is what the manager needs from the BPF datapath.
type Datapath interface {
	// Attach attaches the endpoint programs to the host end (idempotent)
	// and writes the endpoint's map entries.
	Attach(ep *Endpoint) error
	// Update rewrites the endpoint's map entries (identity changed).
	Update(ep *Endpoint) error
	// Detach removes the endpoint's map entries and program links.
	Detach(ep *Endpoint) error
}

// Identities allocates numeric identities for label sets.
type Identities interface {
	Allocate(ctx context.Context, labels []string) (uint32, error)
	Release(ctx context.Context, id uint32) error
}

// LabelSource resolves a container's name and identity labels.
type LabelSource interface {
	// Resolve returns the runtime, name and the already filtered
	// identity labels ("container:k=v").
	Resolve(ctx context.Context, ep Lookup) (runtime, name string, labels []string, err error)
	// Synchronous says whether Resolve may run during ADD (the runtime
	// does not hold a lock that Resolve would wait for).
	Synchronous(ep Lookup) bool
}

// LabelFilter is implemented by a LabelSource that can filter labels the
// caller supplies (the Docker driver) the way it filters its own.
type LabelFilter interface {
	IdentityLabels(labels map[string]string) []string
}

// Lookup is what a LabelSource gets to identify a container.
type Lookup struct {
	ContainerID string
	Runtime     string
	Args        map[string]string
}
