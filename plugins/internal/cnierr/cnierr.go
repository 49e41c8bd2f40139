// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package cnierr maps failures of the agent API onto CNI error results,
// the same way for nori-cni and nori-ipam, so that a runtime's log tells
// the user what to do.
package cnierr

import (
	"errors"
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/nori-net/nori/agent/api"
)

// ErrPoolExhausted is Nori's own CNI error code (codes 0-99 are reserved
// by the spec) for "the node CIDR has no free address". A runtime only
// shows it, so the value matters less than being distinct from 11: trying
// again later does not help until containers are removed or the agent gets
// a bigger CIDR (--cluster-pool-ipv4-mask-size).
const ErrPoolExhausted uint = 100

// Unreachable is the error for an agent nobody answers for at socket.
func Unreachable(socket string, err error) *types.Error {
	return types.NewError(types.ErrTryAgainLater,
		fmt.Sprintf("nori-agent is not reachable at %s: is it running? (systemctl status nori-agent / make run)", socket),
		detail(err))
}

// FromAgent maps an error of an api.Client call. what names the operation
// ("create endpoint") and prefixes agent messages; socket goes into the
// unreachable hint.
//
//	api.ErrUnreachable        -> 11 try again later, with the hint above
//	api.CodeInvalid           -> 7 invalid network configuration
//	api.CodeNotReady          -> 11 try again later
//	api.CodePoolExhausted     -> 100 (ErrPoolExhausted)
//	anything else             -> 999 with the agent's message
func FromAgent(what, socket string, err error) *types.Error {
	if err == nil {
		return nil
	}
	var te *types.Error
	if errors.As(err, &te) {
		return te
	}
	if errors.Is(err, api.ErrUnreachable) {
		return Unreachable(socket, err)
	}
	var ae *api.Error
	if !errors.As(err, &ae) {
		return types.NewError(types.ErrInternal, fmt.Sprintf("%s: %v", what, err), "")
	}
	switch ae.Code {
	case api.CodeInvalid:
		return types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf("%s: %s", what, ae.Message), "")
	case api.CodeNotReady:
		return types.NewError(types.ErrTryAgainLater,
			fmt.Sprintf("%s: nori-agent is not ready yet: %s", what, ae.Message), "")
	case api.CodePoolExhausted:
		msg := ae.Message
		if !strings.Contains(msg, "no free address") {
			msg = "no free address in node CIDR: " + msg
		}
		return types.NewError(ErrPoolExhausted, msg,
			"remove unused containers or give nodes bigger CIDRs (--cluster-pool-ipv4-mask-size)")
	}
	return types.NewError(types.ErrInternal, fmt.Sprintf("%s: %s", what, ae.Message), ae.Code)
}

// IsRetryable reports whether e says "try again later" (code 11): the
// agent is down or starting.
func IsRetryable(e *types.Error) bool {
	return e != nil && e.Code == types.ErrTryAgainLater
}

func detail(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
