// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import (
	"context"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/docker/dockerapi"
)

// Agent is everything the driver asks of nori-agent. *AgentClient
// implements it over the agent's socket; tests use a fake.
type Agent interface {
	// Status tells the node CIDR and router address (the IPAM pool and
	// the gateway).
	Status(ctx context.Context) (*api.Status, error)
	IPAMAllocate(ctx context.Context, req *api.IPAMRequest) (*api.IPAMResult, error)
	IPAMRelease(ctx context.Context, req *api.IPAMReleaseRequest) error
	// IPAMGC frees the allocations of an owner that are not listed.
	IPAMGC(ctx context.Context, req *api.GCRequest) (*api.GCResult, error)
	EndpointCreate(ctx context.Context, req *api.EndpointRequest) (*api.EndpointResult, error)
	EndpointDelete(ctx context.Context, req *api.EndpointDeleteRequest) error
	// EndpointLabels hands the agent a container's name and labels once
	// Docker has told them.
	EndpointLabels(ctx context.Context, req *LabelsRequest) error
}

// LabelsRequest hands the agent a container's name and labels, once
// Docker has told them (after Join).
type LabelsRequest = api.EndpointLabelsRequest

// PathLabels is the agent route for LabelsRequest.
const PathLabels = api.PathEndpointLabels

// Docker is what the driver reads from the Docker daemon;
// *dockerapi.Client implements it.
type Docker interface {
	Network(ctx context.Context, id string) (*dockerapi.Network, error)
	Container(ctx context.Context, id string) (*dockerapi.Container, error)
}
