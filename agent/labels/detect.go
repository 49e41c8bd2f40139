// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package labels

import (
	"regexp"
	"strings"
)

// Runtimes the resolver knows.
const (
	RuntimeNerdctl = "nerdctl"
	RuntimePodman  = "podman"
	RuntimeDocker  = "docker"
	RuntimeUnknown = "unknown"
)

// ArgPodName is the CNI_ARGS key podman fills with the container (or pod)
// name.
const ArgPodName = "K8S_POD_NAME"

// argPodNamespace is only sent by Kubernetes runtimes (CRI); its presence
// tells a CRI sandbox apart from a podman container.
const argPodNamespace = "K8S_POD_NAMESPACE"

// Info is what a runtime knows about a container.
type Info struct {
	Runtime string
	Name    string
	// Labels are the container's labels as the runtime reports them,
	// unfiltered (Filter turns them into identity labels).
	Labels map[string]string
}

// Request names the container to resolve: the CNI container ID and
// CNI_ARGS, and the runtime when the caller knows it (the Docker driver
// says "docker").
type Request struct {
	ContainerID string
	Args        map[string]string
	Runtime     string
}

var (
	hexID        = regexp.MustCompile(`^[0-9a-f]{64}$`)
	nerdctlID    = regexp.MustCompile(`^(.+)-([0-9a-f]{64})$`)
	namespaceRef = regexp.MustCompile(`^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$`)
)

// target is a detected runtime plus the runtime's own reference to the
// container.
type target struct {
	runtime   string
	namespace string // containerd namespace (nerdctl)
	id        string // the runtime's container ID
}

// detect infers the runtime from the shape of the CNI container ID and
// CNI_ARGS: nerdctl sends `<namespace>-<64 hex>`, podman a bare 64-hex ID
// with K8S_POD_NAME (and, unlike CRI, no K8S_POD_NAMESPACE).
func detect(req Request) target {
	id := req.ContainerID
	if req.Runtime != "" {
		t := target{runtime: req.Runtime, id: id}
		if req.Runtime == RuntimeNerdctl {
			if m := nerdctlID.FindStringSubmatch(id); m != nil {
				t.namespace, t.id = m[1], m[2]
			}
		}
		return t
	}
	if m := nerdctlID.FindStringSubmatch(id); m != nil && namespaceRef.MatchString(m[1]) {
		return target{runtime: RuntimeNerdctl, namespace: m[1], id: m[2]}
	}
	if hexID.MatchString(strings.ToLower(id)) && req.Args[ArgPodName] != "" && req.Args[argPodNamespace] == "" {
		return target{runtime: RuntimePodman, id: id}
	}
	return target{runtime: RuntimeUnknown, id: id}
}

// DetectRuntime returns the runtime a request comes from, or RuntimeUnknown.
func DetectRuntime(req Request) string { return detect(req).runtime }
