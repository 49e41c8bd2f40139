// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import (
	"context"
	"errors"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/docker/state"
)

// SweepAddresses frees the agent's addresses for Docker that the state
// file does not know: a nori-docker that died between the agent's
// allocation and its state write left them behind, and nothing else would
// ever release them. It must run before the driver serves, so that no
// allocation is in flight. Without a state file it does nothing: the
// addresses of running containers are then unknown, not unused.
func (d *Driver) SweepAddresses(ctx context.Context) ([]api.Attachment, error) {
	if !d.cfg.State.Existed() {
		d.log.Info("no state file yet: the agent's Docker addresses are left alone")
		return nil, nil
	}
	var valid []api.Attachment
	d.cfg.State.View(func(s *state.Data) {
		for _, a := range s.Addresses {
			valid = append(valid, a.Attachment)
		}
	})
	res, err := d.cfg.Agent.IPAMGC(ctx, &api.GCRequest{Owner: ipamOwner, Valid: valid})
	if err != nil {
		return nil, d.agentError("sweep addresses", err)
	}
	if res == nil {
		return nil, errors.New("sweep addresses: the agent returned no result")
	}
	for _, a := range res.Released {
		d.log.Warn("freed an address the state file did not know (left by an interrupted RequestAddress)", "attachment", a.ContainerID)
	}
	return res.Released, nil
}
