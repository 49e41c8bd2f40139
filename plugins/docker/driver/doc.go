// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package driver is nori-docker's libnetwork remote network driver and
// remote IPAM driver: it answers Docker's plugin calls over HTTP and maps
// them onto the same agent endpoint path a CNI container takes. Addresses
// come from the agent's IPAM, each Docker endpoint is an agent endpoint
// whose veth the agent creates in the host namespace (Docker moves the
// container end itself), and the container's name and labels are read from
// the Docker API once Join has returned.
package driver
