// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package api holds the wire types of the nori-agent socket API and a Go
// client for it. It is the only agent package that the CNI plugins, the
// Docker driver and the CLI import, so it depends on the standard library
// alone.
package api

import "time"

// DefaultSocket is where nori-agent listens and where every client looks
// first.
const DefaultSocket = "/run/nori/nori.sock"

// SocketEnv overrides DefaultSocket for the CLI.
const SocketEnv = "NORI_SOCKET"

// Error codes carried in Error.Code. Plugins map them onto CNI error codes.
const (
	CodeInvalid       = "invalid"        // the request is malformed; Message names the field
	CodeNotFound      = "not-found"      // no such endpoint, allocation or identity
	CodeConflict      = "conflict"       // e.g. an address already owned by another container
	CodePoolExhausted = "pool-exhausted" // the node CIDR has no free address
	CodeNotReady      = "not-ready"      // the agent is starting or lost its store; retry later
	CodeInternal      = "internal"
)

// Error is the body of every non-2xx answer.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// HTTPStatus is filled in by the client from the response.
	HTTPStatus int `json:"-"`
}

func (e *Error) Error() string { return e.Message }

// Attachment names one network attachment the way CNI does: the container
// ID plus the interface name inside the container.
type Attachment struct {
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifName"`
}

// IPConfig is one address given to a container.
type IPConfig struct {
	// Address in CIDR notation, e.g. "10.0.1.7/32".
	Address string `json:"address"`
	Gateway string `json:"gateway,omitempty"`
}

// Route is a route inside the container.
type Route struct {
	Dst string `json:"dst"`
	GW  string `json:"gw,omitempty"`
	MTU int    `json:"mtu,omitempty"`
}

// IPAMRequest asks the agent for addresses for one attachment. It is
// idempotent per Attachment: asking twice returns the same address.
type IPAMRequest struct {
	Attachment
	// Network is the CNI network name (informational).
	Network string `json:"network,omitempty"`
	// RequestedIPs are static addresses ("ips" capability or CNI_ARGS IP=).
	RequestedIPs []string `json:"requestedIPs,omitempty"`
	// Owner says who asked (cni, docker), kept with the allocation.
	Owner string `json:"owner,omitempty"`
	// CheckOnly asks whether the attachment holds an allocation (CNI
	// CHECK): the agent answers it, or CodeNotFound, and allocates nothing.
	CheckOnly bool `json:"checkOnly,omitempty"`
}

// IPAMResult is the answer to an IPAMRequest. Addresses carry the node
// CIDR's prefix length so that nori-ipam also works under bridge-like
// plugins; nori-cni configures them as /32.
type IPAMResult struct {
	IPs    []IPConfig `json:"ips"`
	Routes []Route    `json:"routes,omitempty"`
}

// IPAMReleaseRequest frees what an attachment holds; releasing nothing is
// not an error.
type IPAMReleaseRequest struct {
	Attachment
	// Address, when set, releases exactly this address (Docker's IPAM
	// driver knows addresses, not containers).
	Address string `json:"address,omitempty"`
}

// GCRequest lists the attachments that are still valid; the agent frees
// everything else that the Owner holds.
type GCRequest struct {
	Owner string `json:"owner,omitempty"`
	// Network, when set, limits the GC to what was created for this CNI
	// network: a runtime's GC lists the valid attachments of one network
	// only, so another network's attachments must not be touched.
	Network string       `json:"network,omitempty"`
	Valid   []Attachment `json:"valid"`
}

// GCResult says what a GC removed.
type GCResult struct {
	Released []Attachment `json:"released"`
}

// PortMapping is the CNI portMappings capability entry.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// EndpointRequest asks the agent to connect a container: create the veth
// pair, configure the container side and program the datapath. It is
// idempotent per Attachment while the container interface exists.
type EndpointRequest struct {
	Attachment
	// Netns is the path of the container's network namespace.
	Netns string `json:"netns"`
	// Network is the CNI network (or Docker network) name.
	Network string `json:"network,omitempty"`
	// IPs are the addresses from IPAM (any prefix length; configured /32).
	IPs []IPConfig `json:"ips"`
	// MTU of the container interface; 0 means the agent's default.
	MTU int `json:"mtu,omitempty"`
	// Args are the CNI_ARGS key/values (K8S_POD_NAME, IgnoreUnknown ...),
	// used to resolve the container's name and labels.
	Args map[string]string `json:"args,omitempty"`
	// Runtime, when the caller knows it ("docker"); otherwise the agent
	// infers it from the container ID and Args.
	Runtime string `json:"runtime,omitempty"`
	// Name and Labels, when the caller knows them (the Docker driver).
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	// PortMappings are recorded for display; portmap applies them.
	PortMappings []PortMapping `json:"portMappings,omitempty"`
	// SkipNetnsSetup leaves the container side alone (Docker moves and
	// configures the interface itself); the veth is created in the host
	// namespace and its peer named ContainerIfName.
	SkipNetnsSetup bool `json:"skipNetnsSetup,omitempty"`
}

// Interface is one end of the endpoint's veth pair.
type Interface struct {
	Name    string `json:"name"`
	MAC     string `json:"mac"`
	MTU     int    `json:"mtu,omitempty"`
	Sandbox string `json:"sandbox,omitempty"`
}

// EndpointResult describes what the agent set up, in the shape a CNI
// result needs.
type EndpointResult struct {
	ID        uint16     `json:"id"`
	Host      Interface  `json:"host"`
	Container Interface  `json:"container"`
	IPs       []IPConfig `json:"ips"`
	Routes    []Route    `json:"routes"`
	// Gateway is the node router address the container routes through.
	Gateway string `json:"gateway"`
}

// EndpointDeleteRequest disconnects a container. Deleting an endpoint that
// does not exist succeeds.
type EndpointDeleteRequest struct {
	Attachment
	Netns string `json:"netns,omitempty"`
}

// EndpointLabelsRequest tells the agent a container's runtime, name and
// labels after the endpoint was created without them: the Docker driver
// learns them from Docker's API only after Join returns (Docker holds the
// container lock during Join). The agent filters the labels as it does
// for the labels it resolves itself, allocates the identity and marks the
// endpoint ready.
type EndpointLabelsRequest struct {
	Attachment
	Runtime string `json:"runtime,omitempty"`
	// RuntimeContainerID is the runtime's own container ID when the
	// attachment carries another (Docker: the endpoint ID).
	RuntimeContainerID string            `json:"runtimeContainerID,omitempty"`
	Name               string            `json:"name,omitempty"`
	Labels             map[string]string `json:"labels"`
	// Network is the runtime's network name, for `nori endpoint list`.
	Network string `json:"network,omitempty"`
	// Netns is where the container end of the veth lives now (Docker's
	// SandboxKey), recorded for display.
	Netns string `json:"netns,omitempty"`
}

// EndpointCheckRequest asks the agent to verify an endpoint against what
// the runtime believes (CNI CHECK).
type EndpointCheckRequest struct {
	Attachment
	Netns string     `json:"netns"`
	IPs   []IPConfig `json:"ips,omitempty"`
}

// Endpoint states.
const (
	StateWaitingForIdentity = "waiting-for-identity"
	StateReady              = "ready"
	StateDisconnecting      = "disconnecting"
)

// Endpoint is one connected container as `nori endpoint list` shows it.
type Endpoint struct {
	ID            uint16   `json:"id"`
	ContainerID   string   `json:"containerID"`
	IfName        string   `json:"ifName"`
	Netns         string   `json:"netns,omitempty"`
	Network       string   `json:"network,omitempty"`
	Runtime       string   `json:"runtime,omitempty"`
	Name          string   `json:"name,omitempty"`
	Labels        []string `json:"labels"`
	Identity      uint32   `json:"identity"`
	IPv4          string   `json:"ipv4"`
	HostIfName    string   `json:"hostIfName"`
	HostIfIndex   int      `json:"hostIfIndex"`
	MAC           string   `json:"mac"`
	State         string   `json:"state"`
	PolicyIngress bool     `json:"policyIngress"`
	PolicyEgress  bool     `json:"policyEgress"`
	// PolicyRevision is the policy repository revision the endpoint's
	// datapath policy was computed from; 0 before the first computation.
	PolicyRevision uint64            `json:"policyRevision,omitempty"`
	PortMappings   []PortMapping     `json:"portMappings,omitempty"`
	Created        time.Time         `json:"created"`
	Extra          map[string]string `json:"extra,omitempty"`
}

// Identity is a numeric security identity and its labels.
type Identity struct {
	ID     uint32   `json:"id"`
	Labels []string `json:"labels"`
	// Reserved identities (host, world, ...) are built in, not in etcd.
	Reserved bool `json:"reserved,omitempty"`
}

// Node is one host of the cluster.
type Node struct {
	Name       string `json:"name"`
	Cluster    string `json:"cluster"`
	IPv4       string `json:"ipv4"`
	IPv4CIDR   string `json:"ipv4AllocCIDR"`
	RouterIPv4 string `json:"routerIPv4"`
	Health     string `json:"health,omitempty"`
	Local      bool   `json:"local,omitempty"`
}

// NodeDeleteRequest removes a node from the cluster state (its entry and
// its CIDR claim).
type NodeDeleteRequest struct {
	Name string `json:"name"`
}

// BPFIPCacheEntry is one entry of the datapath's ipcache map.
type BPFIPCacheEntry struct {
	Prefix   string `json:"prefix"`
	Identity uint32 `json:"identity"`
	// TunnelEndpoint is the underlay address of the node behind the
	// prefix; empty for local and non-tunnelled entries.
	TunnelEndpoint string `json:"tunnelEndpoint,omitempty"`
	// Flags are names such as "remote".
	Flags []string `json:"flags,omitempty"`
}

// BPFMetric is one datapath counter: packets and bytes that got a verdict
// for a reason ("redirect-local", "drop-policy", ...) in a direction seen
// from the endpoint, summed over CPUs since the maps were created.
type BPFMetric struct {
	Reason    string `json:"reason"`
	Drop      bool   `json:"drop"`
	Direction string `json:"direction"`
	Packets   uint64 `json:"packets"`
	Bytes     uint64 `json:"bytes"`
}

// BPFTunnelEntry maps a remote node CIDR to that node's underlay address.
type BPFTunnelEntry struct {
	Prefix         string `json:"prefix"`
	TunnelEndpoint string `json:"tunnelEndpoint"`
}

// ComponentStatus is one line of `nori status`.
type ComponentStatus struct {
	State   string `json:"state"` // Ok, Warning, Failure, Disabled
	Message string `json:"message,omitempty"`
}

// Status is the agent's overall health.
type Status struct {
	Version     string          `json:"version"`
	NodeName    string          `json:"nodeName"`
	ClusterName string          `json:"clusterName"`
	KVStore     ComponentStatus `json:"kvstore"`
	Datapath    ComponentStatus `json:"datapath"`
	IPAM        IPAMStatus      `json:"ipam"`
	Endpoints   int             `json:"endpoints"`
	Identities  int             `json:"identities"`
	Tunnel      string          `json:"tunnel"`
	Policy      string          `json:"policyEnforcement"`
	// PolicyRevision and PolicyRules describe the rules in force (from
	// etcd); the revision is 0 before the first import.
	PolicyRevision uint64             `json:"policyRevision"`
	PolicyRules    int                `json:"policyRules"`
	Masquerade     ComponentStatus    `json:"masquerade"`
	Uptime         string             `json:"uptime"`
	Controllers    []ControllerStatus `json:"controllers,omitempty"`
	// ClusterHealth is the probe result over every node, its Message
	// "N/N reachable" (the local node counts as reachable); nil while
	// health probing is off.
	ClusterHealth *ComponentStatus `json:"clusterHealth,omitempty"`
	// ClusterSync says whether the node and ipcache watches have synced
	// the datapath with the cluster state; nil on a single host without
	// the syncer.
	ClusterSync *ComponentStatus `json:"clusterSync,omitempty"`
	// Propagation is how long remote endpoints took from their creation
	// to this node's datapath.
	Propagation *PropagationStats `json:"ipcachePropagation,omitempty"`
	// Proxy is the L7/TLS proxy; nil when the agent runs none.
	Proxy *ProxyStatus `json:"proxy,omitempty"`
}

// ProxyStatus describes the agent's L7/TLS proxy.
type ProxyStatus struct {
	State string `json:"state"` // OK or Failure
	// Message says what failed, when State is Failure.
	Message string `json:"message,omitempty"`
	// Redirects is the number of policy map entries that steer flows to
	// a listener; Ports are the listeners' ports.
	Redirects int      `json:"redirects"`
	Ports     []uint16 `json:"ports,omitempty"`
	// NetnsListeners are the listeners inside containers' netns, one per
	// container and proxy port, serving their ingress redirects.
	NetnsListeners int `json:"netnsListeners"`
	// Requests by outcome since the agent started.
	Forwarded uint64 `json:"forwarded"`
	Denied    uint64 `json:"denied"`
	Failed    uint64 `json:"failed"`
}

// PropagationStats summarises the last samples of the time from an
// endpoint's ipcache key being written on its node to the entry landing in
// this node's datapath.
type PropagationStats struct {
	Samples int     `json:"samples"`
	P50Ms   float64 `json:"p50Ms"`
	P99Ms   float64 `json:"p99Ms"`
	MaxMs   float64 `json:"maxMs"`
}

// IPAMStatus summarises the node's address pool.
type IPAMStatus struct {
	CIDR   string `json:"cidr"`
	Router string `json:"router"`
	// ClusterCIDR is the pool every node's CIDR comes from
	// (--cluster-pool-ipv4-cidr): all endpoints of the cluster.
	ClusterCIDR string `json:"clusterCIDR,omitempty"`
	Allocated   int    `json:"allocated"`
	Capacity    int    `json:"capacity"`
}

// ControllerStatus reports one background loop (label resolution, store
// sync ...) for `nori status --verbose`.
type ControllerStatus struct {
	Name      string    `json:"name"`
	LastError string    `json:"lastError,omitempty"`
	LastRun   time.Time `json:"lastRun"`
}

// Version is the agent's build information.
type Version struct {
	Version   string `json:"version"`
	GoVersion string `json:"goVersion"`
}
