// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cnierr

import (
	"errors"

	"github.com/containernetworking/cni/pkg/types"
)

// Status re-codes an error for the STATUS verb. An agent that is down or
// not ready means "cannot service ADD", which is code 50
// (types.ErrPluginNotAvailable), not 11: the codes 50 and 51 are defined
// for STATUS in the SPEC.md and pkg/types of the CNI library Nori is built
// on (v1.3.1). They were added after the spec-v1.1.0 tag (apis.md §a), but
// STATUS itself only exists from 1.1.0, every runtime that sends it treats
// any non-zero answer as "not ready", and 50 says exactly that. 51 would
// be wrong: existing containers keep full connectivity while the agent is
// down (programs and maps stay pinned).
func Status(e *types.Error) *types.Error {
	if IsRetryable(e) {
		return types.NewError(types.ErrPluginNotAvailable, e.Msg, e.Details)
	}
	return e
}

// AsTypes is errors.As for *types.Error, for callers that only hold an
// error.
func AsTypes(err error, target **types.Error) bool {
	return errors.As(err, target)
}
