// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package server serves the agent's HTTP/JSON API on its unix socket. It
// only decodes requests, calls the component that owns the answer and maps
// errors onto api.Error codes; it holds no state of its own.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/endpoint"
	"github.com/nori-net/nori/agent/monitor"
	"github.com/nori-net/nori/agent/policy"
)

// IPAM is the address allocator as the API sees it.
type IPAM interface {
	Allocate(ctx context.Context, req *api.IPAMRequest) (*api.IPAMResult, error)
	Release(ctx context.Context, req *api.IPAMReleaseRequest) error
	GC(ctx context.Context, req *api.GCRequest) (*api.GCResult, error)
}

// Backend is everything the handlers call.
type Backend struct {
	Endpoints  *endpoint.Manager
	IPAM       IPAM
	Identities func(ctx context.Context) ([]api.Identity, error)
	Nodes      func(ctx context.Context) ([]api.Node, error)
	NodeDelete func(ctx context.Context, name string) error
	BPFIPCache func(ctx context.Context) ([]api.BPFIPCacheEntry, error)
	BPFMetrics func(ctx context.Context) ([]api.BPFMetric, error)
	BPFTunnel  func(ctx context.Context) ([]api.BPFTunnelEntry, error)
	Status     func(ctx context.Context) *api.Status
	// Ready returns nil once the agent can take endpoints.
	Ready   func() error
	Version api.Version

	// Policy and monitor backends (issue 4). A nil field answers
	// CodeNotImplemented (HTTP 501). The server parses and checks every
	// request first, so the functions get valid rules and labels.
	PolicyImport func(ctx context.Context, rules []policy.Rule, replace bool) (api.PolicyRevision, error)
	// PolicyGet returns the revision and the rules carrying every label
	// (all rules when labels is empty).
	PolicyGet    func(ctx context.Context, labels []string) (uint64, []policy.Rule, error)
	PolicyDelete func(ctx context.Context, labels []string, all bool) (api.PolicyRevision, error)
	// PolicyTrace gets a request whose Proto is valid and lower case and
	// whose Src and Dst are non-empty, parseable labels.
	PolicyTrace func(ctx context.Context, req api.PolicyTraceRequest) (*api.PolicyTrace, error)
	// BPFPolicy lists one endpoint's policy map entries, every endpoint's
	// when endpointID is 0.
	BPFPolicy func(ctx context.Context, endpointID uint16) ([]api.BPFPolicyEntry, error)
	BPFCT     func(ctx context.Context) ([]api.BPFCTEntry, error)
	// Monitor streams events to `nori monitor`.
	Monitor *monitor.Hub
}

// Server is the socket API server.
type Server struct {
	b   Backend
	log *slog.Logger
	srv *http.Server
	ln  net.Listener
	// stopping is closed when Shutdown starts, ending monitor streams,
	// which would otherwise keep Shutdown waiting.
	stopping chan struct{}
}

// Listen creates the socket (mode 0600: only root may connect) and returns
// a server ready to Serve. It refuses to take over a socket another live
// agent is answering on.
func Listen(path string, b Backend, logger *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("another nori-agent is already listening on %s", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := os.Chown(path, 0, 0); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chown %s: %w", path, err)
	}
	return newServer(ln, b, logger), nil
}

// newServer serves b on ln.
func newServer(ln net.Listener, b Backend, logger *slog.Logger) *Server {
	s := &Server{b: b, log: logger.With("subsys", "api"), ln: ln, stopping: make(chan struct{})}
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	var once sync.Once
	s.srv.RegisterOnShutdown(func() { once.Do(func() { close(s.stopping) }) })
	return s
}

// Serve answers requests until Shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve api: %w", err)
	}
	return nil
}

// Shutdown stops accepting requests and waits for running ones.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathHealthz, func(w http.ResponseWriter, r *http.Request) {
		if err := s.b.Ready(); err != nil {
			s.fail(w, &api.Error{Code: api.CodeNotReady, Message: err.Error()})
			return
		}
		reply(w, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET "+api.PathStatus, func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.b.Status(r.Context()))
	})
	mux.HandleFunc("GET "+api.PathVersion, func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.b.Version)
	})
	handle(s, mux, api.PathIPAMAllocate, true, func(ctx context.Context, req *api.IPAMRequest) (any, error) {
		return s.b.IPAM.Allocate(ctx, req)
	})
	handle(s, mux, api.PathIPAMRelease, false, func(ctx context.Context, req *api.IPAMReleaseRequest) (any, error) {
		return struct{}{}, s.b.IPAM.Release(ctx, req)
	})
	handle(s, mux, api.PathIPAMGC, false, func(ctx context.Context, req *api.GCRequest) (any, error) {
		return s.b.IPAM.GC(ctx, req)
	})
	handle(s, mux, api.PathEndpointCreate, true, func(ctx context.Context, req *api.EndpointRequest) (any, error) {
		return s.b.Endpoints.Create(ctx, req)
	})
	handle(s, mux, api.PathEndpointDelete, false, func(ctx context.Context, req *api.EndpointDeleteRequest) (any, error) {
		return struct{}{}, s.b.Endpoints.Delete(ctx, req.Attachment)
	})
	handle(s, mux, api.PathEndpointLabels, false, func(ctx context.Context, req *api.EndpointLabelsRequest) (any, error) {
		return struct{}{}, s.b.Endpoints.SetLabels(ctx, req)
	})
	handle(s, mux, api.PathEndpointCheck, false, func(ctx context.Context, req *api.EndpointCheckRequest) (any, error) {
		return struct{}{}, s.b.Endpoints.Check(ctx, req)
	})
	handle(s, mux, api.PathEndpointGC, false, func(ctx context.Context, req *api.GCRequest) (any, error) {
		released, err := s.b.Endpoints.GC(ctx, req.Network, req.Valid)
		return &api.GCResult{Released: released}, err
	})
	mux.HandleFunc("GET "+api.PathEndpoints, func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.b.Endpoints.List())
	})
	mux.HandleFunc("GET "+api.PathEndpoints+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 16)
		if err != nil {
			s.fail(w, &api.Error{Code: api.CodeInvalid, Message: fmt.Sprintf("endpoint ID %q is not a number from 0 to 65535", r.PathValue("id"))})
			return
		}
		ep, err := s.b.Endpoints.Get(uint16(id))
		if err != nil {
			s.fail(w, err)
			return
		}
		reply(w, ep)
	})
	get(s, mux, api.PathIdentities, s.b.Identities)
	get(s, mux, api.PathNodes, s.b.Nodes)
	handle(s, mux, api.PathNodeDelete, false, func(ctx context.Context, req *api.NodeDeleteRequest) (any, error) {
		return struct{}{}, s.b.NodeDelete(ctx, req.Name)
	})
	get(s, mux, api.PathBPFIPCache, s.b.BPFIPCache)
	get(s, mux, api.PathBPFTunnel, s.b.BPFTunnel)
	get(s, mux, api.PathBPFMetrics, s.b.BPFMetrics)
	s.policyRoutes(mux)
	s.bpfPolicyRoutes(mux)
	mux.HandleFunc("GET "+api.PathMonitor, s.monitor)
	return mux
}

// get registers a GET handler that answers with what fn returns.
func get[T any](s *Server, mux *http.ServeMux, path string, fn func(context.Context) (T, error)) {
	mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r.Context())
		if err != nil {
			s.fail(w, err)
			return
		}
		reply(w, v)
	})
}

// handle registers a POST handler that decodes T, refusing unknown fields
// so a typo in a client is an error, not a silent default.
func handle[T any](s *Server, mux *http.ServeMux, path string, needReady bool, fn func(context.Context, *T) (any, error)) {
	mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
		if needReady {
			if err := s.b.Ready(); err != nil {
				s.fail(w, &api.Error{Code: api.CodeNotReady, Message: err.Error()})
				return
			}
		}
		var req T
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			s.fail(w, &api.Error{Code: api.CodeInvalid, Message: "decode request: " + err.Error()})
			return
		}
		start := time.Now()
		out, err := fn(r.Context(), &req)
		if err != nil {
			s.log.Debug("request failed", "path", path, "err", err, "took", time.Since(start))
			s.fail(w, err)
			return
		}
		s.log.Debug("request", "path", path, "took", time.Since(start))
		reply(w, out)
	})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// fail maps err onto an api.Error and an HTTP status.
func (s *Server) fail(w http.ResponseWriter, err error) {
	apiErr := &api.Error{Code: api.CodeInternal, Message: err.Error()}
	var given *api.Error
	switch {
	case errors.As(err, &given):
		apiErr = given
	case errors.Is(err, endpoint.ErrInvalid):
		apiErr.Code = api.CodeInvalid
	case errors.Is(err, endpoint.ErrNotFound):
		apiErr.Code = api.CodeNotFound
	}
	status := http.StatusInternalServerError
	switch apiErr.Code {
	case api.CodeInvalid:
		status = http.StatusBadRequest
	case api.CodeNotFound:
		status = http.StatusNotFound
	case api.CodeConflict:
		status = http.StatusConflict
	case api.CodeNotReady, api.CodePoolExhausted:
		status = http.StatusServiceUnavailable
	case api.CodeNotImplemented:
		status = http.StatusNotImplemented
	}
	if status == http.StatusInternalServerError {
		s.log.Error("request failed", "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(apiErr)
}
