// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nori-net/nori/agent/api"
)

// callTimeout bounds one Docker call: Docker's plugin client gives up
// after 30 s, so answer before it does.
const callTimeout = 25 * time.Second

// Handler serves every plugin method on one mux, as Docker calls them:
// POST /<Interface>.<Method>. Unknown methods answer 404, which Docker
// reads as "not implemented".
func (d *Driver) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(method string, h func(ctx context.Context, body []byte) (any, error)) {
		mux.HandleFunc("POST /"+method, func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				reply(w, http.StatusBadRequest, errResponse{Err: fmt.Sprintf("%s: read request: %v", method, err)})
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
			defer cancel()
			out, err := h(ctx, body)
			if err != nil {
				status := statusOf(err)
				d.log.Warn("plugin call failed", "method", method, "status", status, "err", err)
				reply(w, status, errResponse{Err: err.Error()})
				return
			}
			d.log.Debug("plugin call", "method", method)
			reply(w, http.StatusOK, out)
		})
	}
	empty := func(context.Context, []byte) (any, error) { return struct{}{}, nil }

	route("Plugin.Activate", func(context.Context, []byte) (any, error) {
		return activateResponse{Implements: []string{"NetworkDriver", "IpamDriver"}}, nil
	})

	route("NetworkDriver.GetCapabilities", func(context.Context, []byte) (any, error) {
		return capabilitiesResponse{Scope: "local", ConnectivityScope: "local"}, nil
	})
	route("NetworkDriver.CreateNetwork", d.createNetwork)
	route("NetworkDriver.DeleteNetwork", d.deleteNetwork)
	route("NetworkDriver.CreateEndpoint", d.createEndpoint)
	route("NetworkDriver.EndpointOperInfo", d.endpointOperInfo)
	route("NetworkDriver.DeleteEndpoint", d.deleteEndpoint)
	route("NetworkDriver.Join", d.join)
	route("NetworkDriver.Leave", d.leave)
	route("NetworkDriver.ProgramExternalConnectivity", d.programExternalConnectivity)
	route("NetworkDriver.RevokeExternalConnectivity", d.revokeExternalConnectivity)
	// Node discovery only matters to global-scope drivers; Docker treats
	// an error here as a failure, so acknowledge and ignore.
	route("NetworkDriver.DiscoverNew", empty)
	route("NetworkDriver.DiscoverDelete", empty)
	// Docker only calls these for global-scope drivers (swarm managers);
	// nori is local, so they never arrive, and success is harmless.
	route("NetworkDriver.AllocateNetwork", empty)
	route("NetworkDriver.FreeNetwork", empty)

	route("IpamDriver.GetCapabilities", func(context.Context, []byte) (any, error) {
		// No request replay: the agent keeps allocations across restarts.
		return ipamCapabilitiesResponse{}, nil
	})
	route("IpamDriver.GetDefaultAddressSpaces", func(context.Context, []byte) (any, error) {
		return addressSpacesResponse{LocalDefaultAddressSpace: LocalAddressSpace, GlobalDefaultAddressSpace: GlobalAddressSpace}, nil
	})
	route("IpamDriver.RequestPool", d.requestPool)
	route("IpamDriver.ReleasePool", d.releasePool)
	route("IpamDriver.RequestAddress", d.requestAddress)
	route("IpamDriver.ReleaseAddress", d.releaseAddress)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNotFound, errResponse{Err: "nori-docker does not implement " + r.URL.Path})
	})
	return mux
}

func reply(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errResponse{Err: "encode answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", MediaType)
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// callError carries the HTTP status a failure should be answered with.
type callError struct {
	status int
	err    error
}

func (e *callError) Error() string { return e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// invalid marks a request Docker should not have sent.
func invalid(format string, args ...any) error {
	return &callError{status: http.StatusBadRequest, err: fmt.Errorf(format, args...)}
}

// statusOf picks the HTTP status for err. It never answers 404 for a
// failure: Docker reads 404 as "method not implemented" and would treat
// a failed ProgramExternalConnectivity as success.
func statusOf(err error) int {
	var ce *callError
	if errors.As(err, &ce) {
		return ce.status
	}
	if errors.Is(err, api.ErrUnreachable) {
		return http.StatusServiceUnavailable
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		switch ae.Code {
		case api.CodeInvalid:
			return http.StatusBadRequest
		case api.CodeConflict:
			return http.StatusConflict
		case api.CodeNotReady, api.CodePoolExhausted:
			return http.StatusServiceUnavailable
		}
	}
	return http.StatusInternalServerError
}

// agentError words an agent failure for `docker` output: the operation,
// and for an unreachable agent the socket and what to check.
func (d *Driver) agentError(op string, err error) error {
	if errors.Is(err, api.ErrUnreachable) {
		sock := d.cfg.AgentSocket
		if sock == "" {
			sock = api.DefaultSocket
		}
		if !strings.Contains(err.Error(), sock) {
			return fmt.Errorf("%s: %w (socket %s; is nori-agent running?)", op, err, sock)
		}
		return fmt.Errorf("%s: %w (is nori-agent running?)", op, err)
	}
	return fmt.Errorf("%s: nori-agent: %w", op, err)
}

// decode parses a request body into v. A type error names the JSON field,
// so that a malformed call says what was wrong. An empty body or "null"
// leaves v zero (Docker sends null for calls without arguments).
func decode(method string, body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || bytes.Equal(body, []byte("null")) {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return invalid("%s: decode request: field %s: got JSON %s, want %s", method, te.Field, te.Value, te.Type)
		case errors.As(err, &se):
			return invalid("%s: decode request: malformed JSON at offset %d: %v", method, se.Offset, err)
		default:
			return invalid("%s: decode request: %v", method, err)
		}
	}
	return nil
}
