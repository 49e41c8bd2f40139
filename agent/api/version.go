// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package api

// BuildVersion is the version every Nori binary reports. `make build` sets
// it from `git describe` with -ldflags -X.
var BuildVersion = "0.1.0-dev"
