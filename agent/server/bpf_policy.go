// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/nori-net/nori/agent/api"
)

func (s *Server) bpfPolicyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+api.PathBPFPolicy, func(w http.ResponseWriter, r *http.Request) {
		if s.b.BPFPolicy == nil {
			s.fail(w, notImplemented("the policy map"))
			return
		}
		var id uint16
		if v := r.URL.Query().Get("endpoint"); v != "" {
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				s.fail(w, invalid(fmt.Sprintf("endpoint: %q is not a number from 0 to 65535", v)))
				return
			}
			id = uint16(n)
		}
		s.answer(w, r, api.PathBPFPolicy, func(ctx context.Context) (any, error) {
			es, err := s.b.BPFPolicy(ctx, id)
			if es == nil {
				es = []api.BPFPolicyEntry{}
			}
			return es, err
		})
	})
	mux.HandleFunc("GET "+api.PathBPFCT, func(w http.ResponseWriter, r *http.Request) {
		if s.b.BPFCT == nil {
			s.fail(w, notImplemented("the conntrack map"))
			return
		}
		s.answer(w, r, api.PathBPFCT, func(ctx context.Context) (any, error) {
			es, err := s.b.BPFCT(ctx)
			if es == nil {
				es = []api.BPFCTEntry{}
			}
			return es, err
		})
	})
}
