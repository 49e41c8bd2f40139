// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// PathHello answers 200 with the node's name.
const PathHello = "/hello"

// ServerConfig configures a Server.
type ServerConfig struct {
	// IP is the node's health address (IP of the node CIDR).
	IP netip.Addr
	// Port is Port when zero.
	Port     int
	NodeName string
	Logger   *slog.Logger
}

// Server is the node's health endpoint that other nodes probe.
type Server struct {
	cfg    ServerConfig
	srv    *http.Server
	ln     net.Listener
	done   chan struct{}
	logger *slog.Logger
}

// NewServer checks cfg; nothing listens until Start.
func NewServer(cfg ServerConfig) (*Server, error) {
	if !cfg.IP.IsValid() {
		return nil, errors.New("health server: no health address")
	}
	if cfg.Port == 0 {
		cfg.Port = Port
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, logger: cfg.Logger.With("subsys", "health")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathHello, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, cfg.NodeName)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	return s, nil
}

// Addr is where the server listens (or will).
func (s *Server) Addr() netip.AddrPort { return netip.AddrPortFrom(s.cfg.IP, uint16(s.cfg.Port)) }

// Start binds the health address and serves in the background. The
// socket binds with IP_FREEBIND, so it works even when the address is
// added to the host device a moment later (or re-added after the device
// was recreated); probes only succeed once it is there.
func (s *Server) Start() error {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_FREEBIND, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	addr := net.JoinHostPort(s.cfg.IP.String(), strconv.Itoa(s.cfg.Port))
	ln, err := lc.Listen(context.Background(), "tcp4", addr)
	if err != nil {
		return fmt.Errorf("listen for health checks on %s: %w", addr, err)
	}
	s.ln = ln
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("health server stopped", "addr", addr, "err", err)
		}
	}()
	s.logger.Info("health server listening", "addr", addr)
	return nil
}

// Close stops the server.
func (s *Server) Close() error {
	if s.ln == nil {
		return nil
	}
	err := s.srv.Close()
	<-s.done
	if err != nil {
		return fmt.Errorf("close health server: %w", err)
	}
	return nil
}
