// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/nori-net/nori/plugins/docker/state"
)

// Config wires a Driver.
type Config struct {
	Agent Agent
	// Docker reads container names and labels; nil leaves endpoints at
	// the agent's reserved:init identity.
	Docker Docker
	State  *state.Store
	Log    *slog.Logger
	// AgentSocket only names the socket in error messages.
	AgentSocket string
	// LabelTimeout bounds the wait for Docker to list a joined container;
	// zero means 30 seconds.
	LabelTimeout time.Duration
}

// Driver answers Docker's network and IPAM plugin calls.
type Driver struct {
	cfg Config
	log *slog.Logger

	// ctx ends the background label lookups on Close.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	nodeMu sync.Mutex
	node   *nodeInfo // cached agent status, nil until first asked
}

// nodeInfo is the part of the agent status the IPAM driver uses.
type nodeInfo struct {
	cidr    netip.Prefix
	router  netip.Addr
	cluster netip.Prefix // the cluster pool; invalid when the agent does not say
}

// New returns a Driver.
func New(cfg Config) *Driver {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.LabelTimeout == 0 {
		cfg.LabelTimeout = 30 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Driver{cfg: cfg, log: cfg.Log, ctx: ctx, cancel: cancel}
}

// Close stops the background label lookups and waits for them.
func (d *Driver) Close() {
	d.cancel()
	d.wg.Wait()
}

// Wait waits for the background label lookups started so far (tests).
func (d *Driver) Wait() { d.wg.Wait() }
