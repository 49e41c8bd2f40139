// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package labels

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// podmanClient runs `podman container inspect`. It must run after ADD has
// returned: podman holds the container lock while it sets up the network
// and inspect takes the same lock, so an early call just blocks.
type podmanClient struct {
	command []string // the podman binary and global flags
	env     []string // added to the agent's own environment
	timeout time.Duration
}

type podmanInspect struct {
	Name   string `json:"Name"`
	Config struct {
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
}

// inspect runs one attempt, bounded by the per-attempt timeout.
func (p *podmanClient) inspect(ctx context.Context, id string) (Info, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	args := append(append([]string{}, p.command[1:]...), "container", "inspect", "--format", "json", id)
	cmd := exec.CommandContext(ctx, p.command[0], args...)
	if len(p.env) > 0 {
		cmd.Env = append(os.Environ(), p.env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(strings.ToLower(msg), "no such container") {
			return Info{}, fmt.Errorf("%w: %s", errGone, msg)
		}
		return Info{}, fmt.Errorf("run %s container inspect %s: %w: %s", p.command[0], id, err, msg)
	}
	return parsePodmanInspect(stdout.Bytes())
}

func parsePodmanInspect(data []byte) (Info, error) {
	var out []podmanInspect
	if err := json.Unmarshal(data, &out); err != nil {
		return Info{}, fmt.Errorf("decode podman inspect output: %w", err)
	}
	if len(out) == 0 {
		return Info{}, fmt.Errorf("decode podman inspect output: no container")
	}
	labels := out[0].Config.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return Info{Runtime: RuntimePodman, Name: out[0].Name, Labels: labels}, nil
}
