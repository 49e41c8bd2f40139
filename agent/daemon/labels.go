// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package daemon

import (
	"context"
	"errors"

	"github.com/nori-net/nori/agent/endpoint"
	"github.com/nori-net/nori/agent/labels"
)

// labelSource adapts the runtime resolver and the identity label filter to
// the endpoint manager.
type labelSource struct {
	r      *labels.Resolver
	filter *labels.Filter
}

func request(l endpoint.Lookup) labels.Request {
	return labels.Request{ContainerID: l.ContainerID, Args: l.Args, Runtime: l.Runtime}
}

func (s labelSource) Synchronous(l endpoint.Lookup) bool { return s.r.Sync(request(l)) }

func (s labelSource) Resolve(ctx context.Context, l endpoint.Lookup) (string, string, []string, error) {
	info, err := s.r.Resolve(ctx, request(l))
	if errors.Is(err, labels.ErrUnknownRuntime) {
		// Nobody can be asked (a plain CNI caller such as cnitool): the
		// endpoint is identified by its empty label set rather than
		// staying reserved:init forever.
		return info.Runtime, l.Args[labels.ArgPodName], []string{}, nil
	}
	if err != nil {
		return "", "", nil, err
	}
	return info.Runtime, info.Name, s.filter.IdentityLabels(info.Labels), nil
}

// IdentityLabels filters labels a caller (the Docker driver) supplies.
func (s labelSource) IdentityLabels(l map[string]string) []string { return s.filter.IdentityLabels(l) }
