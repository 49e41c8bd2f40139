// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package labels

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults of Config.
const (
	DefaultContainerdSocket = "/run/containerd/containerd.sock"
	DefaultCallTimeout      = 2 * time.Second
	DefaultRetryTimeout     = 30 * time.Second
)

// ErrUnknownRuntime means the container ID and CNI_ARGS match no runtime
// the resolver knows; the endpoint keeps no labels.
var ErrUnknownRuntime = errors.New("unknown container runtime")

// Config says where the runtimes are. Zero values take the defaults.
type Config struct {
	ContainerdSocket string        // containerd's gRPC socket (nerdctl)
	PodmanCommand    []string      // podman binary and global flags; default {"podman"}
	PodmanEnv        []string      // added to the agent's environment for podman
	CallTimeout      time.Duration // one containerd call
	PodmanTimeout    time.Duration // one podman run; default 10 s (podman starts slowly)
	RetryTimeout     time.Duration // total time podman is retried
}

// Resolver learns containers' names and labels from their runtimes. It is
// safe for concurrent use.
type Resolver struct {
	cfg        Config
	log        *slog.Logger
	containerd *containerdClient
	podman     *podmanClient
}

// NewResolver returns a resolver; it connects to nothing until asked.
func NewResolver(cfg Config, logger *slog.Logger) *Resolver {
	if cfg.ContainerdSocket == "" {
		cfg.ContainerdSocket = DefaultContainerdSocket
	}
	if len(cfg.PodmanCommand) == 0 {
		cfg.PodmanCommand = []string{"podman"}
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.PodmanTimeout <= 0 {
		cfg.PodmanTimeout = 10 * time.Second
	}
	if cfg.RetryTimeout <= 0 {
		cfg.RetryTimeout = DefaultRetryTimeout
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Resolver{
		cfg:        cfg,
		log:        logger,
		containerd: &containerdClient{address: cfg.ContainerdSocket, timeout: cfg.CallTimeout},
		podman:     &podmanClient{command: cfg.PodmanCommand, env: cfg.PodmanEnv, timeout: cfg.PodmanTimeout},
	}
}

// Sync reports whether Resolve may run while the runtime waits for ADD:
// only containerd's metadata store is free of the container lock that
// podman holds during network setup.
func (r *Resolver) Sync(req Request) bool {
	return detect(req).runtime == RuntimeNerdctl
}

// Immediate returns what is known without asking the runtime: the runtime
// and, for podman, the name from K8S_POD_NAME, so that the endpoint shows a
// name while its labels are still being resolved.
func (r *Resolver) Immediate(req Request) Info {
	t := detect(req)
	info := Info{Runtime: t.runtime}
	if t.runtime == RuntimePodman {
		info.Name = req.Args[ArgPodName]
	}
	return info
}

// Resolve asks the container's runtime for its name and labels. For
// podman it retries with backoff until RetryTimeout or ctx ends, so call
// it from a goroutine after ADD returned; cancel ctx when the endpoint goes
// away. Docker's containers are not asked here: nori-docker sends their
// labels (api.EndpointLabelsRequest).
func (r *Resolver) Resolve(ctx context.Context, req Request) (Info, error) {
	t := detect(req)
	start := time.Now()
	var (
		info Info
		err  error
	)
	switch t.runtime {
	case RuntimeNerdctl:
		if t.namespace == "" {
			return Info{Runtime: t.runtime}, fmt.Errorf("resolve %s: container ID is not <namespace>-<id>", req.ContainerID)
		}
		info, err = r.containerd.get(ctx, t.namespace, t.id)
	case RuntimePodman:
		info, err = r.retry(ctx, t, func(ctx context.Context) (Info, error) { return r.podman.inspect(ctx, t.id) })
		if name := req.Args[ArgPodName]; name != "" {
			// A container in a pod reports the infra container's name;
			// K8S_POD_NAME is what podman shows the user.
			info.Name = name
		}
	case RuntimeDocker:
		return Info{Runtime: t.runtime}, fmt.Errorf("resolve %s: Docker containers get their labels from nori-docker, not from the agent", req.ContainerID)
	default:
		return Info{Runtime: t.runtime}, fmt.Errorf("resolve %s (runtime %q): %w", req.ContainerID, t.runtime, ErrUnknownRuntime)
	}
	info.Runtime = t.runtime
	if err != nil {
		return info, err
	}
	r.log.Debug("resolved container labels", "runtime", t.runtime, "container", req.ContainerID,
		"name", info.Name, "labels", len(info.Labels), "took", time.Since(start))
	return info, nil
}

// errGone marks a container the runtime no longer knows: retrying cannot
// help, it will not come back.
var errGone = errors.New("container is gone")

// retry calls fn with exponential backoff (50 ms doubling to 2 s) until it
// succeeds, the container is gone, RetryTimeout passes or ctx ends.
func (r *Resolver) retry(ctx context.Context, t target, fn func(context.Context) (Info, error)) (Info, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RetryTimeout)
	defer cancel()
	delay := 50 * time.Millisecond
	var lastErr error
	for attempt := 1; ; attempt++ {
		info, err := fn(ctx)
		if err == nil {
			return info, nil
		}
		if errors.Is(err, errGone) {
			return Info{}, fmt.Errorf("resolve %s container %s: %w", t.runtime, t.id, err)
		}
		// An attempt cut short by the deadline says less than the one
		// before it.
		if ctx.Err() == nil || lastErr == nil {
			lastErr = err
		}
		r.log.Debug("container not inspectable yet", "runtime", t.runtime, "container", t.id, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return Info{}, fmt.Errorf("resolve %s container %s after %d attempts: %w", t.runtime, t.id, attempt, lastErr)
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// Close drops the containerd connection.
func (r *Resolver) Close() error { return r.containerd.close() }
