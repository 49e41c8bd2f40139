// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package dockerapi

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// Container is what nori-docker needs to know of a container.
type Container struct {
	ID   string
	Name string // without Docker's leading slash
	// Labels are the container's labels, already merged by Docker with
	// its image's labels; never nil.
	Labels map[string]string
}

// Network is a Docker network and the containers attached to it.
type Network struct {
	ID   string
	Name string
	// Endpoints maps a Docker endpoint ID to the ID of the container that
	// joined it.
	Endpoints map[string]string
}

// Container inspects one container.
func (c *Client) Container(ctx context.Context, id string) (*Container, error) {
	p, err := c.versioned(ctx, "/containers/"+url.PathEscape(id)+"/json")
	if err != nil {
		return nil, err
	}
	var raw struct {
		ID     string `json:"Id"`
		Name   string `json:"Name"`
		Config struct {
			Labels map[string]string `json:"Labels"`
		} `json:"Config"`
	}
	if err := c.get(ctx, p, &raw); err != nil {
		return nil, fmt.Errorf("inspect container %s: %w", id, err)
	}
	ct := &Container{ID: raw.ID, Name: strings.TrimPrefix(raw.Name, "/"), Labels: raw.Config.Labels}
	if ct.Labels == nil {
		ct.Labels = map[string]string{}
	}
	return ct, nil
}

// Network inspects one network. Only the containers that have completed
// their Join are listed, which is why the driver asks after Join returned.
func (c *Client) Network(ctx context.Context, id string) (*Network, error) {
	p, err := c.versioned(ctx, "/networks/"+url.PathEscape(id))
	if err != nil {
		return nil, err
	}
	var raw struct {
		ID         string `json:"Id"`
		Name       string `json:"Name"`
		Containers map[string]struct {
			EndpointID string `json:"EndpointID"`
		} `json:"Containers"`
	}
	if err := c.get(ctx, p, &raw); err != nil {
		return nil, fmt.Errorf("inspect network %s: %w", id, err)
	}
	n := &Network{ID: raw.ID, Name: raw.Name, Endpoints: map[string]string{}}
	for cid, ep := range raw.Containers {
		n.Endpoints[ep.EndpointID] = cid
	}
	return n, nil
}
