// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Paths of the socket API. Every handler lives under /v1/.
const (
	PathHealthz        = "/v1/healthz"
	PathStatus         = "/v1/status"
	PathVersion        = "/v1/version"
	PathIPAMAllocate   = "/v1/ipam/allocate"
	PathIPAMRelease    = "/v1/ipam/release"
	PathIPAMGC         = "/v1/ipam/gc"
	PathEndpoints      = "/v1/endpoints"        // GET: list
	PathEndpointCreate = "/v1/endpoints/create" // POST EndpointRequest
	PathEndpointDelete = "/v1/endpoints/delete" // POST EndpointDeleteRequest
	PathEndpointCheck  = "/v1/endpoints/check"  // POST EndpointCheckRequest
	PathEndpointGC     = "/v1/endpoints/gc"     // POST GCRequest
	PathEndpointLabels = "/v1/endpoints/labels" // POST EndpointLabelsRequest
	PathIdentities     = "/v1/identities"
	PathNodes          = "/v1/nodes"
	PathNodeDelete     = "/v1/nodes/delete" // POST NodeDeleteRequest
	PathBPFIPCache     = "/v1/bpf/ipcache"  // GET: []BPFIPCacheEntry
	PathBPFTunnel      = "/v1/bpf/tunnel"   // GET: []BPFTunnelEntry
	PathBPFMetrics     = "/v1/bpf/metrics"  // GET: []BPFMetric
)

// ErrUnreachable wraps every failure to reach the agent at all (no socket,
// connection refused, timeout before an answer). CNI plugins map it to CNI
// error code 11, "try again later".
var ErrUnreachable = errors.New("nori-agent unreachable")

// Client talks to nori-agent over its unix socket. The zero value uses
// DefaultSocket.
type Client struct {
	// Socket is the agent's unix socket path; empty means DefaultSocket.
	Socket string
	// Timeout bounds each call; zero means 60 seconds.
	Timeout time.Duration

	hc *http.Client
}

// NewClient returns a client for socket ("" means the default).
func NewClient(socket string) *Client { return &Client{Socket: socket} }

// SocketFromEnv picks the socket the way the CLI documents it: flag, then
// $NORI_SOCKET, then DefaultSocket.
func SocketFromEnv(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if s := os.Getenv(SocketEnv); s != "" {
		return s
	}
	return DefaultSocket
}

func (c *Client) socket() string {
	if c.Socket == "" {
		return DefaultSocket
	}
	return c.Socket
}

func (c *Client) http() *http.Client {
	if c.hc != nil {
		return c.hc
	}
	sock := c.socket()
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	c.hc = &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
			MaxIdleConns:    2,
			IdleConnTimeout: 30 * time.Second,
		},
	}
	return c.hc
}

// do sends in (if not nil) as JSON and decodes the answer into out (if not
// nil). A non-2xx answer becomes *Error.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://nori"+path, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("%w at %s: %v", ErrUnreachable, c.socket(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%w at %s: read answer: %v", ErrUnreachable, c.socket(), err)
	}
	if resp.StatusCode/100 != 2 {
		apiErr := &Error{HTTPStatus: resp.StatusCode}
		if json.Unmarshal(data, apiErr) != nil || apiErr.Message == "" {
			apiErr.Code = CodeInternal
			apiErr.Message = fmt.Sprintf("agent answered %s: %s", resp.Status, bytes.TrimSpace(data))
		}
		return apiErr
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer to %s: %w", path, err)
	}
	return nil
}

// Healthz returns nil when the agent answers and is ready for endpoints.
func (c *Client) Healthz(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, PathHealthz, nil, nil)
}

// Status returns the agent's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	return &s, c.do(ctx, http.MethodGet, PathStatus, nil, &s)
}

// Version returns the agent's version.
func (c *Client) Version(ctx context.Context) (*Version, error) {
	var v Version
	return &v, c.do(ctx, http.MethodGet, PathVersion, nil, &v)
}

// IPAMAllocate returns the addresses of an attachment, allocating them on
// first use.
func (c *Client) IPAMAllocate(ctx context.Context, req *IPAMRequest) (*IPAMResult, error) {
	var r IPAMResult
	return &r, c.do(ctx, http.MethodPost, PathIPAMAllocate, req, &r)
}

// IPAMRelease frees an attachment's addresses.
func (c *Client) IPAMRelease(ctx context.Context, req *IPAMReleaseRequest) error {
	return c.do(ctx, http.MethodPost, PathIPAMRelease, req, nil)
}

// IPAMGC frees every allocation not listed as valid.
func (c *Client) IPAMGC(ctx context.Context, req *GCRequest) (*GCResult, error) {
	var r GCResult
	return &r, c.do(ctx, http.MethodPost, PathIPAMGC, req, &r)
}

// EndpointCreate connects a container.
func (c *Client) EndpointCreate(ctx context.Context, req *EndpointRequest) (*EndpointResult, error) {
	var r EndpointResult
	return &r, c.do(ctx, http.MethodPost, PathEndpointCreate, req, &r)
}

// EndpointDelete disconnects a container.
func (c *Client) EndpointDelete(ctx context.Context, req *EndpointDeleteRequest) error {
	return c.do(ctx, http.MethodPost, PathEndpointDelete, req, nil)
}

// EndpointLabels gives an endpoint created without labels its runtime,
// name and labels.
func (c *Client) EndpointLabels(ctx context.Context, req *EndpointLabelsRequest) error {
	return c.do(ctx, http.MethodPost, PathEndpointLabels, req, nil)
}

// EndpointCheck verifies a container's endpoint.
func (c *Client) EndpointCheck(ctx context.Context, req *EndpointCheckRequest) error {
	return c.do(ctx, http.MethodPost, PathEndpointCheck, req, nil)
}

// EndpointGC removes every endpoint not listed as valid.
func (c *Client) EndpointGC(ctx context.Context, req *GCRequest) (*GCResult, error) {
	var r GCResult
	return &r, c.do(ctx, http.MethodPost, PathEndpointGC, req, &r)
}

// Endpoints lists the node's endpoints.
func (c *Client) Endpoints(ctx context.Context) ([]Endpoint, error) {
	var eps []Endpoint
	return eps, c.do(ctx, http.MethodGet, PathEndpoints, nil, &eps)
}

// Endpoint returns one endpoint by numeric ID.
func (c *Client) Endpoint(ctx context.Context, id uint16) (*Endpoint, error) {
	var ep Endpoint
	return &ep, c.do(ctx, http.MethodGet, PathEndpoints+"/"+strconv.Itoa(int(id)), nil, &ep)
}

// Identities lists the identities known to the cluster.
func (c *Client) Identities(ctx context.Context) ([]Identity, error) {
	var ids []Identity
	return ids, c.do(ctx, http.MethodGet, PathIdentities, nil, &ids)
}

// Nodes lists the cluster's nodes.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var ns []Node
	return ns, c.do(ctx, http.MethodGet, PathNodes, nil, &ns)
}

// NodeDelete removes a node and its CIDR claim from the cluster state.
func (c *Client) NodeDelete(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, PathNodeDelete, &NodeDeleteRequest{Name: name}, nil)
}

// BPFIPCache lists the datapath's ipcache map.
func (c *Client) BPFIPCache(ctx context.Context) ([]BPFIPCacheEntry, error) {
	var es []BPFIPCacheEntry
	return es, c.do(ctx, http.MethodGet, PathBPFIPCache, nil, &es)
}

// BPFTunnel lists the datapath's tunnel map.
func (c *Client) BPFTunnel(ctx context.Context) ([]BPFTunnelEntry, error) {
	var es []BPFTunnelEntry
	return es, c.do(ctx, http.MethodGet, PathBPFTunnel, nil, &es)
}

// BPFMetrics lists the datapath's packet counters by reason.
func (c *Client) BPFMetrics(ctx context.Context) ([]BPFMetric, error) {
	var es []BPFMetric
	return es, c.do(ctx, http.MethodGet, PathBPFMetrics, nil, &es)
}

// IsCode reports whether err is an *Error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
