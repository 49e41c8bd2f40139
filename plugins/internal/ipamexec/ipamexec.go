// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package ipamexec runs the IPAM plugin named in a configuration's "ipam"
// section, as containernetworking/plugins' pkg/ipam does. It calls
// pkg/invoke directly because pkg/ipam also carries the netlink code that
// configures interfaces, which a Nori plugin must not link (the agent owns
// the datapath; see plugins/deps_test.go).
package ipamexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// Add allocates through plugin and returns its result in the current
// result version, whatever version the plugin answered in.
func Add(ctx context.Context, plugin string, stdin []byte) (*types100.Result, error) {
	r, err := invoke.DelegateAdd(ctx, plugin, stdin, nil)
	if err != nil {
		return nil, wrap(plugin, "ADD", err)
	}
	res, err := types100.NewResultFromResult(r)
	if err != nil {
		return nil, types.NewError(types.ErrDecodingFailure,
			fmt.Sprintf("ipam plugin %q: convert result: %v", plugin, err), "")
	}
	if len(res.IPs) == 0 {
		return nil, types.NewError(types.ErrInternal,
			fmt.Sprintf("ipam plugin %q returned no address", plugin), "")
	}
	return res, nil
}

// Del releases what plugin allocated for this attachment.
func Del(ctx context.Context, plugin string, stdin []byte) error {
	return wrap(plugin, "DEL", invoke.DelegateDel(ctx, plugin, stdin, nil))
}

// Check asks plugin to verify its allocation.
func Check(ctx context.Context, plugin string, stdin []byte) error {
	return wrap(plugin, "CHECK", invoke.DelegateCheck(ctx, plugin, stdin, nil))
}

// GC forwards a GC. IPAM plugins built before spec 1.1.0 (Debian 12's
// host-local is 1.1.1) do not know the verb; that is logged, not failed,
// because a runtime must not rely on GC anyway.
func GC(ctx context.Context, log *slog.Logger, plugin string, stdin []byte) error {
	return tolerateUnsupported(log, plugin, "GC", invoke.DelegateGC(ctx, plugin, stdin, nil))
}

// Status forwards a STATUS, as the spec asks of a plugin that delegates
// IPAM; plugins that predate the verb count as ready.
func Status(ctx context.Context, log *slog.Logger, plugin string, stdin []byte) error {
	return tolerateUnsupported(log, plugin, "STATUS", invoke.DelegateStatus(ctx, plugin, stdin, nil))
}

// tolerateUnsupported drops the errors an old skel gives for a verb or a
// version it does not know: 4 "unknown CNI_COMMAND" and 1 "incompatible
// CNI versions".
func tolerateUnsupported(log *slog.Logger, plugin, verb string, err error) error {
	var te *types.Error
	if errors.As(err, &te) && (te.Code == types.ErrInvalidEnvironmentVariables || te.Code == types.ErrIncompatibleCNIVersion) {
		log.Debug("ipam plugin does not support verb; skipped", "ipam", plugin, "verb", verb, "reason", te.Msg)
		return nil
	}
	return wrap(plugin, verb, err)
}

// wrap keeps the delegate's own *types.Error (its code is the answer, e.g.
// 11 from nori-ipam when the agent is down) and turns anything else (not
// found in CNI_PATH, crashed) into a 999 that names the plugin.
func wrap(plugin, verb string, err error) error {
	if err == nil {
		return nil
	}
	var te *types.Error
	if errors.As(err, &te) {
		return te
	}
	return types.NewError(types.ErrInternal, fmt.Sprintf("ipam plugin %q %s: %v", plugin, verb, err), "")
}
