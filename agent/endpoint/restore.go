// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package endpoint

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/vishvananda/netlink"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/link"
)

// hostIfPattern matches the host ends that link.HostIfName produces, so the
// orphan sweep never touches another program's devices.
var hostIfPattern = regexp.MustCompile(`^lxc[0-9a-f]{11}$`)

// Restore takes back the endpoints recorded in the state dir, re-pointing
// their datapath at the running agent's programs. Traffic keeps flowing
// throughout: the pinned programs and maps were never removed. Endpoints
// whose host device vanished while the agent was down (the container is
// gone) are removed; their attachments are returned so the caller can free
// their addresses, since the runtime's DEL could not reach a dead agent.
func (m *Manager) Restore(ctx context.Context) (gone []api.Attachment, err error) {
	eps, loadErrs := m.store.load()
	for _, e := range loadErrs {
		m.log.Error("skipping unreadable endpoint record", "err", e)
	}
	known := map[string]bool{}
	var errs []error
	for _, ep := range eps {
		idx, mac, lerr := link.HostLink(ep.HostIfName)
		if lerr != nil {
			m.log.Info("endpoint vanished while the agent was down", "id", ep.ID, "container", ep.ContainerID, "dev", ep.HostIfName)
			_ = m.cfg.Datapath.Detach(ep)
			if err := m.store.remove(ep.ID); err != nil {
				errs = append(errs, err)
			}
			gone = append(gone, ep.attachment())
			continue
		}
		known[ep.HostIfName] = true
		ep.HostIfIndex = idx
		ep.HostMAC = mac.String()
		if ep.State == api.StateDisconnecting {
			// The agent died in the middle of a DEL: finish it.
			m.mu.Lock()
			m.byID[ep.ID] = ep
			m.byAtt[ep.attachment()] = ep
			m.mu.Unlock()
			if err := m.deleteLocked(ctx, ep); err != nil {
				errs = append(errs, err)
			}
			gone = append(gone, ep.attachment())
			continue
		}
		if ep.State == api.StateReady {
			// Usage of an identity is tied to the agent's store lease,
			// which died with the old process: take it again (same ID).
			id, err := m.cfg.Identities.Allocate(ctx, ep.Labels)
			if err != nil {
				m.log.Warn("re-register identity", "id", ep.ID, "err", err)
			} else {
				ep.Identity = id
			}
		}
		if err := m.cfg.Datapath.Attach(ep); err != nil {
			errs = append(errs, fmt.Errorf("restore endpoint %d: %w", ep.ID, err))
		}
		m.mu.Lock()
		m.byID[ep.ID] = ep
		m.byAtt[ep.attachment()] = ep
		if ep.ID >= m.nextID {
			m.nextID = ep.ID + 1
		}
		m.mu.Unlock()
		if err := m.store.save(ep); err != nil {
			errs = append(errs, err)
		}
		if ep.State == api.StateWaitingForIdentity && !ep.HostOnly {
			m.resolveLater(ep)
		}
	}
	m.sweepOrphans(known)
	m.publishPorts()
	m.log.Info("endpoints restored", "restored", len(eps)-len(gone), "removed", len(gone))
	return gone, errors.Join(errs...)
}

// sweepOrphans deletes host ends that no record claims: left behind when
// the agent died between creating a veth and saving its record.
func (m *Manager) sweepOrphans(known map[string]bool) {
	links, err := netlink.LinkList()
	if err != nil {
		m.log.Warn("list links for orphan sweep", "err", err)
		return
	}
	for _, l := range links {
		name := l.Attrs().Name
		if hostIfPattern.MatchString(name) && !known[name] {
			m.log.Info("removing orphaned endpoint device", "dev", name)
			_ = link.Teardown(name)
		}
	}
}
