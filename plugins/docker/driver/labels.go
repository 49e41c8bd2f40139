// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/docker/dockerapi"
	"github.com/nori-net/nori/plugins/docker/state"
)

// errEndpointGone ends a label lookup whose endpoint was deleted meanwhile.
var errEndpointGone = errors.New("endpoint deleted before its labels were known")

// resolveLabels looks up, in the background, which container joined the
// endpoint and hands its name and labels to the agent. It must not run
// inside Join: Docker holds the container's lock during Join and lists
// the container on the network only after Join returned.
func (d *Driver) resolveLabels(networkID, endpointID string) {
	if d.cfg.Docker == nil {
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		ctx, cancel := context.WithTimeout(d.ctx, d.cfg.LabelTimeout)
		defer cancel()
		start := time.Now()
		err := d.labelEndpoint(ctx, networkID, endpointID)
		switch {
		case errors.Is(err, errEndpointGone):
			d.log.Debug("label lookup dropped", "endpoint", shortID(endpointID), "err", err)
		case err != nil:
			d.log.Warn("container labels not handed to the agent; the endpoint keeps reserved:init", "endpoint", shortID(endpointID), "err", err)
		default:
			d.log.Debug("container labels handed to the agent", "endpoint", shortID(endpointID), "after", time.Since(start))
		}
	}()
}

// Resume restarts the label lookups that a restart of nori-docker cut
// short: joined endpoints whose container is not known yet.
func (d *Driver) Resume() {
	type pending struct{ nid, eid string }
	var todo []pending
	d.cfg.State.View(func(s *state.Data) {
		for _, ep := range s.Endpoints {
			if ep.SandboxKey != "" && ep.ContainerID == "" {
				todo = append(todo, pending{ep.NetworkID, ep.ID})
			}
		}
	})
	for _, p := range todo {
		d.resolveLabels(p.nid, p.eid)
	}
}

func (d *Driver) labelEndpoint(ctx context.Context, networkID, endpointID string) error {
	containerID, netName, err := d.waitForContainer(ctx, networkID, endpointID)
	if err != nil {
		return err
	}
	ct, err := d.cfg.Docker.Container(ctx, containerID)
	if err != nil {
		return err
	}
	var att api.Attachment
	var netns string
	err = d.cfg.State.Update(func(s *state.Data) error {
		ep := s.Endpoints[endpointID]
		if ep == nil {
			return errEndpointGone
		}
		ep.ContainerID, ep.Name = ct.ID, ct.Name
		att, netns = ep.Attachment, ep.SandboxKey
		return nil
	})
	if err != nil {
		return err
	}
	err = d.cfg.Agent.EndpointLabels(ctx, &LabelsRequest{
		Attachment:         att,
		Runtime:            runtimeDocker,
		RuntimeContainerID: ct.ID,
		Name:               ct.Name,
		Labels:             ct.Labels,
		Network:            netName,
		Netns:              netns,
	})
	var ae *api.Error
	if errors.As(err, &ae) && ae.HTTPStatus == http.StatusNotFound && ae.Code != api.CodeNotFound {
		return fmt.Errorf("hand labels of %s to the agent: this nori-agent has no %s route", ct.Name, PathLabels)
	}
	if err != nil {
		return fmt.Errorf("hand labels of %s to the agent: %w", ct.Name, err)
	}
	return nil
}

// waitForContainer polls the network until Docker lists the container
// that joined endpointID, which happens once Join has returned.
func (d *Driver) waitForContainer(ctx context.Context, networkID, endpointID string) (containerID, netName string, err error) {
	delay := 20 * time.Millisecond
	for {
		n, err := d.cfg.Docker.Network(ctx, networkID)
		switch {
		case err == nil:
			// Until the endpoint is tied to its sandbox, Docker lists
			// it under "ep-<endpoint ID>" instead of a container ID.
			if cid, ok := n.Endpoints[endpointID]; ok && !strings.HasPrefix(cid, "ep-") {
				return cid, n.Name, nil
			}
			err = fmt.Errorf("network %s does not list the container of endpoint %s yet", n.Name, shortID(endpointID))
		case errors.Is(err, dockerapi.ErrNotFound):
			return "", "", fmt.Errorf("%w: %v", errEndpointGone, err)
		}
		gone := false
		d.cfg.State.View(func(s *state.Data) {
			ep := s.Endpoints[endpointID]
			gone = ep == nil || ep.SandboxKey == ""
		})
		if gone {
			return "", "", errEndpointGone
		}
		select {
		case <-ctx.Done():
			return "", "", fmt.Errorf("find the container of endpoint %s: %w (last: %v)", shortID(endpointID), ctx.Err(), err)
		case <-time.After(delay):
		}
		if delay < time.Second {
			delay *= 2
		}
	}
}
