// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/policy"
)

// maxPolicyBody bounds policy requests; policy files are larger than
// other requests, so they get more than the 1 MiB of handle.
const maxPolicyBody = 16 << 20

func (s *Server) policyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+api.PathPolicyImport, func(w http.ResponseWriter, r *http.Request) {
		var req api.PolicyImportRequest
		if !s.decode(w, r, maxPolicyBody, &req) {
			return
		}
		if s.b.PolicyImport == nil {
			s.fail(w, notImplemented("policy import"))
			return
		}
		rules, err := parseRules(req.Rules)
		if err != nil {
			s.fail(w, err)
			return
		}
		s.answer(w, r, api.PathPolicyImport, func(ctx context.Context) (any, error) {
			return s.b.PolicyImport(ctx, rules, req.Replace)
		})
	})
	mux.HandleFunc("POST "+api.PathPolicyValidate, func(w http.ResponseWriter, r *http.Request) {
		var req api.PolicyValidateRequest
		if !s.decode(w, r, maxPolicyBody, &req) {
			return
		}
		rules, err := parseRules(req.Rules)
		if err != nil {
			s.fail(w, err)
			return
		}
		reply(w, api.PolicyValidate{Count: len(rules)})
	})
	mux.HandleFunc("GET "+api.PathPolicy, func(w http.ResponseWriter, r *http.Request) {
		if s.b.PolicyGet == nil {
			s.fail(w, notImplemented("policy get"))
			return
		}
		labels := r.URL.Query()["label"]
		if err := checkLabels("label", labels); err != nil {
			s.fail(w, err)
			return
		}
		s.answer(w, r, api.PathPolicy, func(ctx context.Context) (any, error) {
			rev, rules, err := s.b.PolicyGet(ctx, labels)
			if err != nil {
				return nil, err
			}
			if rules == nil {
				rules = []policy.Rule{}
			}
			raw, err := json.Marshal(rules)
			if err != nil {
				return nil, fmt.Errorf("encode rules: %w", err)
			}
			return api.PolicyGet{Revision: rev, Rules: raw}, nil
		})
	})
	mux.HandleFunc("POST "+api.PathPolicyDelete, func(w http.ResponseWriter, r *http.Request) {
		var req api.PolicyDeleteRequest
		if !s.decode(w, r, 1<<20, &req) {
			return
		}
		if s.b.PolicyDelete == nil {
			s.fail(w, notImplemented("policy delete"))
			return
		}
		switch {
		case req.All && len(req.Labels) > 0:
			s.fail(w, invalid("labels and all exclude each other"))
			return
		case !req.All && len(req.Labels) == 0:
			s.fail(w, invalid("labels: give the labels of the rules to delete, or all"))
			return
		}
		if err := checkLabels("labels", req.Labels); err != nil {
			s.fail(w, err)
			return
		}
		s.answer(w, r, api.PathPolicyDelete, func(ctx context.Context) (any, error) {
			return s.b.PolicyDelete(ctx, req.Labels, req.All)
		})
	})
	mux.HandleFunc("POST "+api.PathPolicyTrace, func(w http.ResponseWriter, r *http.Request) {
		var req api.PolicyTraceRequest
		if !s.decode(w, r, 1<<20, &req) {
			return
		}
		if s.b.PolicyTrace == nil {
			s.fail(w, notImplemented("policy trace"))
			return
		}
		if err := checkTrace(&req); err != nil {
			s.fail(w, err)
			return
		}
		s.answer(w, r, api.PathPolicyTrace, func(ctx context.Context) (any, error) {
			return s.b.PolicyTrace(ctx, req)
		})
	})
}

// parseRules parses a policy file; its errors name the rule and field.
func parseRules(raw json.RawMessage) ([]policy.Rule, error) {
	if len(raw) == 0 {
		return nil, invalid("rules: a JSON array of rules is required")
	}
	rules, err := policy.Parse(raw)
	if err != nil {
		return nil, invalid(err.Error())
	}
	return rules, nil
}

// checkLabels refuses label selections the repository could not match.
func checkLabels(field string, labels []string) error {
	for i, l := range labels {
		if _, err := policy.ParseLabel(l, policy.SourceAny); err != nil {
			return invalid(fmt.Sprintf("%s[%d]: %v", field, i, err))
		}
	}
	return nil
}

// checkTrace validates a trace request and normalises its protocol.
func checkTrace(req *api.PolicyTraceRequest) error {
	if len(req.Src) == 0 {
		return invalid("src: at least one label is required")
	}
	if len(req.Dst) == 0 {
		return invalid("dst: at least one label is required")
	}
	if err := checkLabels("src", req.Src); err != nil {
		return err
	}
	if err := checkLabels("dst", req.Dst); err != nil {
		return err
	}
	if _, err := req.ProtoNumber(); err != nil {
		return invalid("proto: " + err.Error())
	}
	req.Proto = strings.ToLower(req.Proto)
	if req.Proto == "" {
		req.Proto = "tcp"
	}
	return nil
}

func invalid(msg string) error { return &api.Error{Code: api.CodeInvalid, Message: msg} }

func notImplemented(what string) error {
	return &api.Error{Code: api.CodeNotImplemented, Message: what + " is not available in this agent (no policy backend)"}
}

// decode reads a JSON request body into v, refusing unknown fields; on
// failure it has answered and returns false.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		s.fail(w, invalid("decode request: "+err.Error()))
		return false
	}
	return true
}

// answer runs fn and replies with its result or error.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, path string, fn func(context.Context) (any, error)) {
	out, err := fn(r.Context())
	if err != nil {
		s.log.Debug("request failed", "path", path, "err", err)
		s.fail(w, err)
		return
	}
	reply(w, out)
}
