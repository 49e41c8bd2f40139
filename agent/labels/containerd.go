// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package labels

import (
	"context"
	"fmt"
	"sync"
	"time"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// nerdctlNameLabel is where nerdctl keeps the container name.
const nerdctlNameLabel = "nerdctl/name"

// containerdNamespaceHeader is the gRPC metadata key containerd reads the
// namespace from.
const containerdNamespaceHeader = "containerd-namespace"

// containerdClient reads container records from containerd's metadata
// store. The record is independent of the task, so reading it while
// nerdctl's createRuntime hook runs CNI does not deadlock.
type containerdClient struct {
	address string
	timeout time.Duration

	mu   sync.Mutex
	conn *grpc.ClientConn
}

// client dials lazily and keeps one connection: gRPC reconnects by
// itself, so a containerd restart needs nothing from us.
func (c *containerdClient) client() (containersapi.ContainersClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		conn, err := grpc.NewClient("unix://"+c.address,
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, fmt.Errorf("dial containerd at %s: %w", c.address, err)
		}
		c.conn = conn
	}
	return containersapi.NewContainersClient(c.conn), nil
}

// get returns the container's labels and its nerdctl name.
func (c *containerdClient) get(ctx context.Context, namespace, id string) (Info, error) {
	cl, err := c.client()
	if err != nil {
		return Info{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, containerdNamespaceHeader, namespace)
	resp, err := cl.Get(ctx, &containersapi.GetContainerRequest{ID: id})
	if err != nil {
		return Info{}, fmt.Errorf("get container %s/%s from containerd at %s: %w", namespace, id, c.address, err)
	}
	labels := resp.GetContainer().GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	return Info{Runtime: RuntimeNerdctl, Name: labels[nerdctlNameLabel], Labels: labels}, nil
}

func (c *containerdClient) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}
