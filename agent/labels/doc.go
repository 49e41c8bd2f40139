// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package labels learns a container's name and labels from its runtime
// (containerd for nerdctl, the podman command), because no runtime hands
// them to a CNI plugin, and filters them into the identity labels
// (`container:k=v`) that select policy. Docker's containers get theirs from
// nori-docker, which reads the Docker API itself.
package labels
