// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package labels

import (
	"context"
	"encoding/json"
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

// dockerMaxAPI is the newest Docker API version we ask for. Docker 29
// refuses clients below 1.44 and Debian 12's dockerd speaks 1.41, so the
// version is negotiated: min(ours, the daemon's).
const dockerMaxAPI = "1.47"

// DockerClient reads containers from the Docker Engine API over its unix
// socket. It is plain net/http so that Nori carries no Docker module.
type DockerClient struct {
	socket  string
	timeout time.Duration
	hc      *http.Client

	mu      sync.Mutex
	version string // negotiated API version, "" until asked
}

// NewDockerClient returns a client for the Docker socket; timeout bounds
// each request.
func NewDockerClient(socket string, timeout time.Duration) *DockerClient {
	return &DockerClient{
		socket:  socket,
		timeout: timeout,
		hc: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", socket)
			},
			MaxIdleConns:    2,
			IdleConnTimeout: 30 * time.Second,
		}},
	}
}

// get sends GET path and decodes a 200 answer into out.
func (d *DockerClient) get(ctx context.Context, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return fmt.Errorf("build docker request: %w", err)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return fmt.Errorf("call docker at %s: %w", d.socket, err)
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
		if resp.StatusCode == http.StatusNotFound && strings.Contains(path, "/containers/") {
			return fmt.Errorf("%w: docker answered %s: %s", errGone, resp.Status, e.Message)
		}
		return fmt.Errorf("docker answered %s to %s: %s", resp.Status, path, e.Message)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode docker answer to %s: %w", path, err)
	}
	return nil
}

// APIVersion negotiates once and caches the result.
func (d *DockerClient) APIVersion(ctx context.Context) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.version != "" {
		return d.version, nil
	}
	var v struct {
		APIVersion string `json:"ApiVersion"`
	}
	if err := d.get(ctx, "/version", &v); err != nil {
		return "", fmt.Errorf("negotiate docker api version: %w", err)
	}
	d.version = negotiateVersion(dockerMaxAPI, v.APIVersion)
	return d.version, nil
}

// negotiateVersion returns the lower of two "major.minor" versions; a
// daemon that does not say gets ours.
func negotiateVersion(ours, theirs string) string {
	if theirs == "" || compareVersion(theirs, ours) >= 0 {
		return ours
	}
	return theirs
}

func compareVersion(a, b string) int {
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

// Inspect returns a container's name (without Docker's leading slash) and
// labels, which Docker has already merged with its image's labels.
func (d *DockerClient) Inspect(ctx context.Context, id string) (Info, error) {
	v, err := d.APIVersion(ctx)
	if err != nil {
		return Info{}, err
	}
	var c struct {
		Name   string `json:"Name"`
		Config struct {
			Labels map[string]string `json:"Labels"`
		} `json:"Config"`
	}
	if err := d.get(ctx, "/v"+v+"/containers/"+url.PathEscape(id)+"/json", &c); err != nil {
		return Info{}, fmt.Errorf("inspect docker container %s: %w", id, err)
	}
	labels := c.Config.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return Info{Runtime: RuntimeDocker, Name: strings.TrimPrefix(c.Name, "/"), Labels: labels}, nil
}
