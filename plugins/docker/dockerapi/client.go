// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package dockerapi is the small part of the Docker Engine API that
// nori-docker reads: which container holds an endpoint, and that
// container's name and labels. It is plain net/http over the daemon's
// unix socket so that the plugin links no Docker module.
package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultHost is where dockerd listens unless told otherwise.
const DefaultHost = "unix:///var/run/docker.sock"

// MaxAPIVersion is the newest API version this client asks for. Docker 29
// refuses clients below 1.44 and Debian 12's dockerd speaks 1.41, so the
// version is negotiated: the lower of this and the daemon's.
const MaxAPIVersion = "1.47"

// ErrNotFound is returned when the daemon does not know the container or
// network (it was removed meanwhile).
var ErrNotFound = errors.New("not found in docker")

// Client reads from one Docker daemon.
type Client struct {
	base    string // http://docker or the tcp URL's host
	hc      *http.Client
	timeout time.Duration

	mu      sync.Mutex
	version string // negotiated, "" until the first call
}

// New returns a client for host, a Docker host URL: unix:///path or
// tcp://host:port (plain HTTP).
func New(host string, timeout time.Duration) (*Client, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("parse docker host %q: %w", host, err)
	}
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	c := &Client{timeout: timeout}
	switch u.Scheme {
	case "unix":
		sock := u.Path
		if sock == "" {
			return nil, fmt.Errorf("parse docker host %q: no socket path", host)
		}
		c.base = "http://docker"
		c.hc = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
			MaxIdleConns:    2,
			IdleConnTimeout: 30 * time.Second,
		}}
	case "tcp", "http":
		c.base = "http://" + u.Host
		c.hc = &http.Client{}
	default:
		return nil, fmt.Errorf("parse docker host %q: scheme %q is not unix or tcp", host, u.Scheme)
	}
	return c, nil
}

// get sends GET path and decodes a 200 answer into out.
func (c *Client) get(ctx context.Context, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("build docker request: %w", err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("call docker: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read docker answer to %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(body))
		}
		if resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%w: %s", ErrNotFound, e.Message)
		}
		return fmt.Errorf("docker answered %s to %s: %s", resp.Status, path, e.Message)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode docker answer to %s: %w", path, err)
	}
	return nil
}

// APIVersion negotiates the API version once and caches it.
func (c *Client) APIVersion(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != "" {
		return c.version, nil
	}
	var v struct {
		APIVersion string `json:"ApiVersion"`
	}
	// /version is unversioned and answered by every daemon.
	if err := c.get(ctx, "/version", &v); err != nil {
		return "", fmt.Errorf("negotiate docker api version: %w", err)
	}
	c.version = negotiate(MaxAPIVersion, v.APIVersion)
	return c.version, nil
}

// versioned prefixes path with the negotiated API version.
func (c *Client) versioned(ctx context.Context, path string) (string, error) {
	v, err := c.APIVersion(ctx)
	if err != nil {
		return "", err
	}
	return "/v" + v + path, nil
}

// negotiate returns the lower of two "major.minor" versions; a daemon that
// does not say gets ours.
func negotiate(ours, theirs string) string {
	if theirs == "" || compare(theirs, ours) >= 0 {
		return ours
	}
	return theirs
}

func compare(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
