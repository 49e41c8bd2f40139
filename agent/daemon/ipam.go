// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package daemon

import (
	"context"
	"errors"
	"net/netip"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/ipam"
)

// ipamAPI serves the allocator on the socket API, turning its sentinel
// errors into answer codes the plugins map onto CNI codes.
type ipamAPI struct {
	a *ipam.Allocator
}

func apiError(err error) error {
	if err == nil {
		return nil
	}
	code := api.CodeInternal
	switch {
	case errors.Is(err, ipam.ErrPoolExhausted):
		code = api.CodePoolExhausted
	case errors.Is(err, ipam.ErrInvalid):
		code = api.CodeInvalid
	case errors.Is(err, ipam.ErrConflict):
		code = api.CodeConflict
	}
	return &api.Error{Code: code, Message: err.Error()}
}

func (s ipamAPI) Allocate(_ context.Context, req *api.IPAMRequest) (*api.IPAMResult, error) {
	if req.Owner == "" {
		req.Owner = "cni"
	}
	if req.CheckOnly {
		r, ok := s.a.Get(req.Attachment)
		if !ok {
			return nil, &api.Error{Code: api.CodeNotFound, Message: "no address allocated to " + req.ContainerID + "/" + req.IfName}
		}
		out := r.API()
		out.Routes = []api.Route{{Dst: "0.0.0.0/0", GW: r.Gateway.String()}}
		return &out, nil
	}
	r, err := s.a.Allocate(*req)
	if err != nil {
		return nil, apiError(err)
	}
	out := r.API()
	out.Routes = []api.Route{{Dst: "0.0.0.0/0", GW: r.Gateway.String()}}
	return &out, nil
}

func (s ipamAPI) Release(_ context.Context, req *api.IPAMReleaseRequest) error {
	if req.Address != "" {
		ip, err := netip.ParseAddr(req.Address)
		if err != nil {
			p, perr := netip.ParsePrefix(req.Address)
			if perr != nil {
				return &api.Error{Code: api.CodeInvalid, Message: "address " + req.Address + ": " + err.Error()}
			}
			ip = p.Addr()
		}
		_, _, err = s.a.ReleaseIP(ip)
		return apiError(err)
	}
	_, _, err := s.a.Release(req.Attachment)
	return apiError(err)
}

func (s ipamAPI) GC(_ context.Context, req *api.GCRequest) (*api.GCResult, error) {
	owner := req.Owner
	if owner == "" {
		owner = "cni"
	}
	valid := req.Valid
	if req.Network != "" {
		// A runtime's GC speaks for one network: allocations of other
		// networks are not its to judge.
		for _, al := range s.a.List() {
			if al.Network != req.Network {
				valid = append(valid, al.Attachment)
			}
		}
	}
	freed, err := s.a.GC(owner, valid)
	res := &api.GCResult{Released: []api.Attachment{}}
	for _, a := range freed {
		res.Released = append(res.Released, a.Attachment)
	}
	return res, apiError(err)
}
