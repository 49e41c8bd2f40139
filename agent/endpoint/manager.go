// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package endpoint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/link"
)

// Reserved identity given to an endpoint until its labels are known.
const IdentityInit = 5

// Error kinds the API layer maps onto answer codes.
var (
	ErrInvalid  = errors.New("invalid endpoint request")
	ErrNotFound = errors.New("endpoint not found")
)

// Config parameterises a Manager.
type Config struct {
	StateDir   string     // endpoint records go to StateDir/endpoints
	Router     netip.Addr // the node router every container routes through
	DefaultMTU int
	Datapath   Datapath
	Identities Identities
	Labels     LabelSource
	Logger     *slog.Logger
	// ResolveTimeout bounds the whole asynchronous label resolution.
	ResolveTimeout time.Duration
	// PolicyStatus fills the enforcement columns of List and Get; nil
	// leaves them false.
	PolicyStatus func(id uint16) (ingress, egress bool, revision uint64)
	// PublishPorts, when set, is called with every host-only endpoint's
	// published ports whenever that set may have changed: runtimes that
	// leave publishing to the network (Docker) get it from the agent.
	PublishPorts func(map[netip.Addr][]api.PortMapping) error
}

// Manager owns the node's endpoints. It is safe for concurrent use: calls
// for different attachments run in parallel, calls for the same
// attachment are serialised.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	store *stateStore

	mu      sync.Mutex
	byID    map[uint16]*Endpoint
	byAtt   map[api.Attachment]*Endpoint
	attLock map[api.Attachment]*sync.Mutex
	nextID  uint16

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewManager creates a manager; call Restore before serving requests.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.ResolveTimeout == 0 {
		cfg.ResolveTimeout = 2 * time.Minute
	}
	st, err := newStateStore(cfg.StateDir + "/endpoints")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		cfg:     cfg,
		log:     cfg.Logger.With("subsys", "endpoint"),
		store:   st,
		byID:    map[uint16]*Endpoint{},
		byAtt:   map[api.Attachment]*Endpoint{},
		attLock: map[api.Attachment]*sync.Mutex{},
		nextID:  1,
		ctx:     ctx,
		cancel:  cancel,
	}, nil
}

// Close stops background label resolution. Endpoints and the datapath
// stay as they are: a stopped agent must not disturb traffic.
func (m *Manager) Close() {
	m.cancel()
	m.wg.Wait()
}

func (m *Manager) lockAttachment(a api.Attachment) func() {
	m.mu.Lock()
	l, ok := m.attLock[a]
	if !ok {
		l = &sync.Mutex{}
		m.attLock[a] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// allocateID returns the next free endpoint ID; m.mu must be held.
func (m *Manager) allocateID() (uint16, error) {
	for i := 0; i < 65535; i++ {
		id := m.nextID
		m.nextID++
		if m.nextID == 0 {
			m.nextID = 1
		}
		if _, used := m.byID[id]; !used && id != 0 {
			return id, nil
		}
	}
	return 0, errors.New("no free endpoint ID")
}

func validate(req *api.EndpointRequest) ([]netip.Addr, error) {
	switch {
	case req.ContainerID == "":
		return nil, fmt.Errorf("%w: containerID is empty", ErrInvalid)
	case req.IfName == "":
		return nil, fmt.Errorf("%w: ifName is empty", ErrInvalid)
	case len(req.IfName) > 15 || strings.ContainsAny(req.IfName, "/ \t"):
		return nil, fmt.Errorf("%w: ifName %q is not a valid interface name", ErrInvalid, req.IfName)
	case req.Netns == "" && !req.SkipNetnsSetup:
		return nil, fmt.Errorf("%w: netns is empty", ErrInvalid)
	case len(req.IPs) == 0:
		return nil, fmt.Errorf("%w: ips is empty (IPAM returned no address)", ErrInvalid)
	}
	var ips []netip.Addr
	for i, c := range req.IPs {
		p, err := netip.ParsePrefix(c.Address)
		if err != nil {
			a, err2 := netip.ParseAddr(c.Address)
			if err2 != nil {
				return nil, fmt.Errorf("%w: ips[%d].address %q: %v", ErrInvalid, i, c.Address, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if !p.Addr().Is4() {
			// IPv6 is not supported by the datapath yet; refuse rather
			// than half-configure.
			return nil, fmt.Errorf("%w: ips[%d].address %q: only IPv4 is supported", ErrInvalid, i, c.Address)
		}
		ips = append(ips, p.Addr())
	}
	return ips, nil
}

// Create connects a container. Calling it again for an attachment that is
// connected to the same namespace returns the existing endpoint.
func (m *Manager) Create(ctx context.Context, req *api.EndpointRequest) (*api.EndpointResult, error) {
	ips, err := validate(req)
	if err != nil {
		return nil, err
	}
	att := req.Attachment
	unlock := m.lockAttachment(att)
	defer unlock()

	m.mu.Lock()
	old := m.byAtt[att]
	m.mu.Unlock()
	if old != nil {
		// A host-only endpoint's netns is what its runtime reported
		// later (SetLabels), never part of the request.
		sameNetns := old.Netns == req.Netns || (old.HostOnly && req.SkipNetnsSetup)
		if sameNetns && old.HostOnly == req.SkipNetnsSetup && slices.Equal(old.IPs, ips) && m.checkLink(old) == nil {
			return m.result(old), nil
		}
		// A stale record (the runtime lost a DEL): replace it.
		m.log.Info("replacing stale endpoint", "id", old.ID, "container", att.ContainerID)
		if err := m.deleteLocked(ctx, old); err != nil {
			return nil, err
		}
	}

	mtu := req.MTU
	if mtu == 0 {
		mtu = m.cfg.DefaultMTU
	}
	m.mu.Lock()
	id, err := m.allocateID()
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	ep := &Endpoint{
		ID:           id,
		ContainerID:  req.ContainerID,
		IfName:       req.IfName,
		Netns:        req.Netns,
		Network:      req.Network,
		Runtime:      req.Runtime,
		Name:         req.Name,
		Args:         req.Args,
		IPs:          ips,
		HostIfName:   link.HostIfName(req.ContainerID, req.IfName),
		HostOnly:     req.SkipNetnsSetup,
		MTU:          mtu,
		Identity:     IdentityInit,
		Labels:       []string{"reserved:init"},
		State:        api.StateWaitingForIdentity,
		PortMappings: req.PortMappings,
		Created:      time.Now().UTC(),
	}
	// Reserve the ID and the attachment before the slow work so that
	// parallel creates never pick the same ID.
	m.byID[id] = ep
	m.mu.Unlock()

	success := false
	defer func() {
		if !success {
			m.mu.Lock()
			delete(m.byID, id)
			m.mu.Unlock()
		}
	}()

	setup := link.Setup
	if ep.HostOnly {
		setup = link.SetupHostOnly
	}
	veth, err := setup(m.linkConfig(ep))
	if err != nil {
		return nil, fmt.Errorf("set up veth for %s: %w", att.ContainerID, err)
	}
	defer func() {
		if !success {
			_ = link.Teardown(ep.HostIfName)
		}
	}()
	ep.HostIfIndex = veth.HostIndex
	ep.HostMAC = veth.HostMAC.String()
	ep.ContainerMAC = veth.ContainerMAC.String()

	lookup := Lookup{ContainerID: ep.ContainerID, Runtime: ep.Runtime, Args: ep.Args}
	if len(req.Labels) > 0 || req.Name != "" {
		// The caller (the Docker driver) already knows the labels.
		m.applyLabels(ctx, ep, req.Runtime, req.Name, m.filterLabels(req.Labels))
	} else if m.cfg.Labels != nil && m.cfg.Labels.Synchronous(lookup) {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		rt, name, labels, err := m.cfg.Labels.Resolve(rctx, lookup)
		cancel()
		if err == nil {
			m.applyLabels(ctx, ep, rt, name, labels)
		} else {
			m.log.Warn("label resolution during ADD failed; retrying in the background", "container", ep.ContainerID, "err", err)
		}
	}

	if err := m.cfg.Datapath.Attach(ep); err != nil {
		return nil, fmt.Errorf("program datapath for %s: %w", ep.HostIfName, err)
	}
	defer func() {
		if !success {
			_ = m.cfg.Datapath.Detach(ep)
		}
	}()
	if err := m.store.save(ep); err != nil {
		return nil, err
	}

	m.mu.Lock()
	m.byAtt[att] = ep
	m.mu.Unlock()
	success = true
	m.log.Debug("endpoint created", "id", ep.ID, "container", ep.ContainerID, "ip", ep.IPs[0], "dev", ep.HostIfName)

	// A host-only endpoint's runtime (Docker) sends the labels itself,
	// through SetLabels, once it can.
	if ep.State == api.StateWaitingForIdentity && !ep.HostOnly {
		m.resolveLater(ep)
	}
	if ep.HostOnly && len(ep.PortMappings) > 0 {
		m.publishPorts()
	}
	return m.result(ep), nil
}

// publishPorts hands the published ports of every host-only endpoint to
// Config.PublishPorts. A failure is logged: the endpoint works, only its
// ports are not forwarded.
func (m *Manager) publishPorts() {
	if m.cfg.PublishPorts == nil {
		return
	}
	m.mu.Lock()
	set := map[netip.Addr][]api.PortMapping{}
	for _, ep := range m.byAtt {
		if ep.HostOnly && len(ep.PortMappings) > 0 && len(ep.IPs) > 0 {
			set[ep.IPs[0]] = ep.PortMappings
		}
	}
	m.mu.Unlock()
	if err := m.cfg.PublishPorts(set); err != nil {
		m.log.Error("publish ports", "err", err)
	}
}

// filterLabels turns caller-supplied labels into identity labels, through
// the label source's filter when it has one.
func (m *Manager) filterLabels(labels map[string]string) []string {
	if f, ok := m.cfg.Labels.(LabelFilter); ok {
		return f.IdentityLabels(labels)
	}
	return labelList(labels)
}

// checkLink verifies an endpoint's devices: both ends, or for a host-only
// endpoint (whose container end the runtime moved away) the host end.
func (m *Manager) checkLink(ep *Endpoint) error {
	if ep.HostOnly {
		_, _, err := link.HostLink(ep.HostIfName)
		return err
	}
	return link.Check(m.linkConfig(ep))
}

// SetLabels gives an endpoint created without labels (a Docker endpoint)
// its runtime, name and labels, and with them its identity.
func (m *Manager) SetLabels(ctx context.Context, req *api.EndpointLabelsRequest) error {
	unlock := m.lockAttachment(req.Attachment)
	defer unlock()
	m.mu.Lock()
	ep := m.byAtt[req.Attachment]
	m.mu.Unlock()
	if ep == nil {
		return fmt.Errorf("%w: %s/%s", ErrNotFound, req.ContainerID, req.IfName)
	}
	m.mu.Lock()
	if req.RuntimeContainerID != "" {
		ep.RuntimeContainerID = req.RuntimeContainerID
	}
	if req.Network != "" {
		ep.Network = req.Network
	}
	if req.Netns != "" {
		ep.Netns = req.Netns
	}
	m.mu.Unlock()
	if !m.applyLabels(ctx, ep, req.Runtime, req.Name, m.filterLabels(req.Labels)) {
		return fmt.Errorf("allocate identity for endpoint %d", ep.ID)
	}
	if err := m.cfg.Datapath.Update(ep); err != nil {
		return fmt.Errorf("update datapath identity of endpoint %d: %w", ep.ID, err)
	}
	if err := m.store.save(ep); err != nil {
		return err
	}
	m.log.Info("endpoint identity set by its runtime", "id", ep.ID, "name", ep.Name, "identity", ep.Identity, "labels", ep.Labels, "after", ep.IdentityAfter)
	return nil
}

func labelList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, "container:"+k+"="+v)
	}
	sort.Strings(out)
	return out
}

func (m *Manager) linkConfig(ep *Endpoint) link.Config {
	return link.Config{
		ContainerID: ep.ContainerID,
		IfName:      ep.IfName,
		Netns:       ep.Netns,
		HostIfName:  ep.HostIfName,
		MTU:         ep.MTU,
		Addrs:       ep.IPs,
		Router:      m.cfg.Router,
	}
}

func (m *Manager) result(ep *Endpoint) *api.EndpointResult {
	r := &api.EndpointResult{
		ID:        ep.ID,
		Host:      api.Interface{Name: ep.HostIfName, MAC: ep.HostMAC, MTU: ep.MTU},
		Container: api.Interface{Name: ep.IfName, MAC: ep.ContainerMAC, MTU: ep.MTU, Sandbox: ep.Netns},
		Gateway:   m.cfg.Router.String(),
		Routes:    []api.Route{{Dst: "0.0.0.0/0", GW: m.cfg.Router.String()}},
	}
	for _, ip := range ep.IPs {
		r.IPs = append(r.IPs, api.IPConfig{Address: netip.PrefixFrom(ip, 32).String(), Gateway: m.cfg.Router.String()})
	}
	return r
}

// applyLabels allocates the identity for labels and records it on ep. The
// caller holds the attachment lock or owns ep exclusively.
func (m *Manager) applyLabels(ctx context.Context, ep *Endpoint, runtime, name string, labels []string) bool {
	id, err := m.cfg.Identities.Allocate(ctx, labels)
	if err != nil {
		m.log.Warn("identity allocation failed", "container", ep.ContainerID, "labels", labels, "err", err)
		return false
	}
	m.mu.Lock()
	if runtime != "" {
		ep.Runtime = runtime
	}
	if name != "" {
		ep.Name = name
	}
	ep.Labels = labels
	ep.Identity = id
	ep.State = api.StateReady
	ep.IdentityAfter = time.Since(ep.Created)
	m.mu.Unlock()
	return true
}

// resolveLater runs label resolution after ADD returned, for runtimes that
// hold the container lock during ADD (Podman) or that the agent cannot ask
// at all; it retries with backoff until the endpoint is deleted.
func (m *Manager) resolveLater(ep *Endpoint) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.ResolveTimeout)
		defer cancel()
		lookup := Lookup{ContainerID: ep.ContainerID, Runtime: ep.Runtime, Args: ep.Args}
		delay := 20 * time.Millisecond
		for {
			var rt, name string
			var labels []string
			var err error
			if m.cfg.Labels != nil {
				rt, name, labels, err = m.cfg.Labels.Resolve(ctx, lookup)
			}
			if err == nil {
				if m.finishResolve(ctx, ep, rt, name, labels) {
					return
				}
			} else {
				m.log.Debug("label resolution pending", "container", ep.ContainerID, "err", err)
			}
			select {
			case <-ctx.Done():
				m.log.Warn("giving up on label resolution; endpoint keeps reserved:init", "container", ep.ContainerID, "err", err)
				return
			case <-time.After(delay):
			}
			if delay < 2*time.Second {
				delay *= 2
			}
		}
	}()
}

// finishResolve applies resolved labels unless the endpoint was deleted
// meanwhile. It reports whether resolution is complete.
func (m *Manager) finishResolve(ctx context.Context, ep *Endpoint, runtime, name string, labels []string) bool {
	unlock := m.lockAttachment(ep.attachment())
	defer unlock()
	m.mu.Lock()
	current := m.byAtt[ep.attachment()]
	m.mu.Unlock()
	if current != ep {
		return true // deleted or replaced
	}
	if !m.applyLabels(ctx, ep, runtime, name, labels) {
		return false
	}
	if err := m.cfg.Datapath.Update(ep); err != nil {
		m.log.Error("update datapath identity", "id", ep.ID, "err", err)
	}
	if err := m.store.save(ep); err != nil {
		m.log.Error("save endpoint", "id", ep.ID, "err", err)
	}
	m.log.Info("endpoint identity resolved", "id", ep.ID, "name", ep.Name, "identity", ep.Identity, "labels", ep.Labels, "after", ep.IdentityAfter)
	return true
}

// Delete disconnects a container. Deleting an unknown attachment succeeds.
func (m *Manager) Delete(ctx context.Context, att api.Attachment) error {
	unlock := m.lockAttachment(att)
	defer unlock()
	m.mu.Lock()
	ep := m.byAtt[att]
	m.mu.Unlock()
	if ep == nil {
		return nil
	}
	return m.deleteLocked(ctx, ep)
}

func (m *Manager) deleteLocked(ctx context.Context, ep *Endpoint) error {
	m.mu.Lock()
	ep.State = api.StateDisconnecting
	m.mu.Unlock()
	if err := m.cfg.Datapath.Detach(ep); err != nil {
		m.log.Warn("detach datapath", "id", ep.ID, "err", err)
	}
	if err := link.Teardown(ep.HostIfName); err != nil {
		return fmt.Errorf("remove veth of endpoint %d: %w", ep.ID, err)
	}
	if ep.Identity != IdentityInit && ep.Identity != 0 {
		if err := m.cfg.Identities.Release(ctx, ep.Identity); err != nil {
			m.log.Warn("release identity", "identity", ep.Identity, "err", err)
		}
	}
	if err := m.store.remove(ep.ID); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.byID, ep.ID)
	if m.byAtt[ep.attachment()] == ep {
		delete(m.byAtt, ep.attachment())
	}
	m.mu.Unlock()
	if ep.HostOnly && len(ep.PortMappings) > 0 {
		m.publishPorts()
	}
	m.log.Debug("endpoint deleted", "id", ep.ID, "container", ep.ContainerID)
	return nil
}

// Check verifies an endpoint against what the runtime believes.
func (m *Manager) Check(ctx context.Context, req *api.EndpointCheckRequest) error {
	m.mu.Lock()
	ep := m.byAtt[req.Attachment]
	m.mu.Unlock()
	if ep == nil {
		return fmt.Errorf("%w: %s/%s", ErrNotFound, req.ContainerID, req.IfName)
	}
	for _, c := range req.IPs {
		p, err := netip.ParsePrefix(c.Address)
		if err != nil {
			return fmt.Errorf("%w: address %q: %v", ErrInvalid, c.Address, err)
		}
		if !slices.Contains(ep.IPs, p.Addr()) {
			return fmt.Errorf("endpoint %d has %v, not %s", ep.ID, ep.IPs, p.Addr())
		}
	}
	if ep.HostOnly {
		return m.checkLink(ep)
	}
	cfg := m.linkConfig(ep)
	if req.Netns != "" {
		cfg.Netns = req.Netns
	}
	return link.Check(cfg)
}

// GC deletes every endpoint of network (all networks when empty) whose
// attachment is not in valid. A runtime's GC speaks for one network only.
func (m *Manager) GC(ctx context.Context, network string, valid []api.Attachment) ([]api.Attachment, error) {
	keep := map[api.Attachment]bool{}
	for _, a := range valid {
		keep[a] = true
	}
	m.mu.Lock()
	var stale []api.Attachment
	for a, ep := range m.byAtt {
		if !keep[a] && (network == "" || ep.Network == network) {
			stale = append(stale, a)
		}
	}
	m.mu.Unlock()
	var errs []error
	for _, a := range stale {
		if err := m.Delete(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return stale, errors.Join(errs...)
}

// List returns every endpoint, ordered by ID.
func (m *Manager) List() []api.Endpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]api.Endpoint, 0, len(m.byAtt))
	for _, ep := range m.byAtt {
		out = append(out, m.api(ep))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// api converts an endpoint for the API, with its policy enforcement.
func (m *Manager) api(ep *Endpoint) api.Endpoint {
	a := ep.API()
	if m.cfg.PolicyStatus != nil {
		a.PolicyIngress, a.PolicyEgress, a.PolicyRevision = m.cfg.PolicyStatus(ep.ID)
	}
	return a
}

// Get returns one endpoint by ID.
func (m *Manager) Get(id uint16) (api.Endpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ep, ok := m.byID[id]
	if !ok || m.byAtt[ep.attachment()] != ep {
		return api.Endpoint{}, fmt.Errorf("%w: id %d", ErrNotFound, id)
	}
	return m.api(ep), nil
}

// Count returns the number of endpoints.
func (m *Manager) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byAtt)
}
