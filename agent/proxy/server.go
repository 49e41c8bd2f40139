// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/nori-net/nori/agent/policy"
)

// PortConfig is what one proxy listener applies: the L7 policy of a
// redirected port plus the agent's hooks.
type PortConfig struct {
	Certs          *CertStore
	TerminatingTLS *policy.TLSContext // nil: the listener speaks plain HTTP
	OriginatingTLS *policy.TLSContext // nil: upstream is plain HTTP/1.1
	ServerNames    []string           // allowed SNI names; empty allows all
	HTTP           []policy.PortRuleHTTP
	// ImpliesMTLS makes a ca.crt in the terminating secret require client
	// certificates even without trustedCA (--tls-ca-implies-mtls).
	ImpliesMTLS bool
	// OriginalDst returns where an accepted connection was going and who
	// sent it; the agent reads the socket's local address under
	// IP_TRANSPARENT and the flow's identities from conntrack.
	OriginalDst func(net.Conn) (Origin, error)
	OnRecord    func(Record) // called after every request; may be nil
	Logger      *slog.Logger
	// LateSecrets lets the server start while a secret's files are still
	// missing or broken: handshakes (or upstream dials) fail until they
	// are in place, and Check says what is wrong. Without it NewServer
	// refuses such a configuration.
	LateSecrets bool
	// Dial, when set, makes every upstream connection instead of a dialer
	// on the node (which sets the origin's Mark): the agent's listeners
	// inside an endpoint's netns dial the application there.
	Dial DialFunc
}

// DialFunc dials an upstream connection, as net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Origin is what the agent knows about an accepted connection.
type Origin struct {
	Dst netip.AddrPort // the original destination
	// SrcIdentity and DstIdentity are the security identities of the
	// client and of the destination, for records.
	SrcIdentity, DstIdentity uint32
	// EndpointID is the local endpoint whose policy redirected the
	// connection, for records.
	EndpointID uint16
	// Mark is the SO_MARK of the upstream connections made for this
	// client (0: none). Upstream connections are pooled per mark.
	Mark uint32
}

// Server serves one proxy listener.
type Server struct {
	cfg   PortConfig
	tls   *tls.Config
	h     *handler
	http  *http.Server // HTTP/2 connections only
	h2    *connQueue
	track *connTracker

	mu      sync.Mutex
	ln      net.Listener
	closing bool
}

// handshakeTimeout bounds a downstream TLS handshake.
const handshakeTimeout = 10 * time.Second

// NewServer checks cfg (rules, certificate files) and returns a server
// ready to Serve.
func NewServer(cfg PortConfig) (*Server, error) {
	if cfg.OriginalDst == nil {
		return nil, errors.New("new proxy server: no OriginalDst hook")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if (cfg.TerminatingTLS != nil || cfg.OriginatingTLS != nil) && cfg.Certs == nil {
		return nil, errors.New("new proxy server: tls without a certificate store")
	}
	if len(cfg.ServerNames) > 0 && cfg.TerminatingTLS == nil {
		// Filtering SNI of passed-through TLS is not implemented; refusing
		// beats silently allowing every name.
		return nil, errors.New("new proxy server: serverNames without terminatingTLS is not supported")
	}
	s := &Server{cfg: cfg, track: newConnTracker()}
	if cfg.TerminatingTLS != nil {
		c, err := ServerTLS(cfg.Certs, cfg.TerminatingTLS, cfg.ServerNames, cfg.ImpliesMTLS)
		if err != nil {
			return nil, fmt.Errorf("new proxy server: %w", err)
		}
		s.tls = c
	}
	h, err := newHandler(&s.cfg)
	if err != nil {
		return nil, fmt.Errorf("new proxy server: %w", err)
	}
	s.h = h
	if err := s.Check(); err != nil && !cfg.LateSecrets {
		return nil, fmt.Errorf("new proxy server: %w", err)
	}
	s.http = &http.Server{
		Handler:           h,
		TLSConfig:         s.tls,
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       downstreamIdle,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok {
				c = tc.NetConn()
			}
			if dc, ok := c.(*dstConn); ok {
				return context.WithValue(ctx, ctxKey{}, &connInfo{origin: dc.origin})
			}
			return ctx
		},
	}
	return s, nil
}

// Check loads the certificates and CAs the server's TLS settings name and
// reports the first that cannot be used.
func (s *Server) Check() error {
	if tc := s.cfg.TerminatingTLS; tc != nil {
		if err := checkServerTLS(s.cfg.Certs, tc, s.cfg.ImpliesMTLS); err != nil {
			return fmt.Errorf("terminatingTLS: %w", err)
		}
	}
	if tc := s.cfg.OriginatingTLS; tc != nil {
		if _, err := ClientTLS(s.cfg.Certs, tc, ""); err != nil {
			return fmt.Errorf("originatingTLS: %w", err)
		}
	}
	return nil
}

// Serve accepts connections on ln until Shutdown or Close; it then
// returns nil. With terminatingTLS it negotiates HTTP/2 or HTTP/1.1 by
// ALPN: HTTP/1.x connections take the proxy's own path (http1.go),
// HTTP/2 ones go to net/http's server.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.ln = ln
	s.h2 = newConnQueue(ln.Addr())
	s.mu.Unlock()
	go func() {
		if err := s.http.Serve(s.h2); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("proxy HTTP/2 server stopped", "err", err)
		}
	}()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: back off, as
			// http.Server does.
			if delay = min(max(2*delay, 5*time.Millisecond), time.Second); true {
				s.cfg.Logger.Warn("proxy accept failed; retrying", "err", err, "in", delay)
				time.Sleep(delay)
			}
			continue
		}
		delay = 0
		go s.handle(c)
	}
}

// handle serves one accepted connection.
func (s *Server) handle(c net.Conn) {
	o, err := s.cfg.OriginalDst(c)
	if err != nil {
		s.cfg.Logger.Warn("dropping proxied connection without original destination", "remote", c.RemoteAddr(), "err", err)
		c.Close()
		return
	}
	var conn net.Conn = c
	if s.tls != nil {
		tc := tls.Server(&dstConn{Conn: c, origin: o}, s.tls)
		tc.SetDeadline(time.Now().Add(handshakeTimeout))
		if err := tc.Handshake(); err != nil {
			s.cfg.Logger.Debug("downstream tls handshake failed", "remote", c.RemoteAddr(), "err", err)
			c.Close()
			return
		}
		tc.SetDeadline(time.Time{})
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			if !s.h2.push(tc) {
				tc.Close()
			}
			return
		}
		conn = tc
	}
	if !s.track.add(conn) {
		conn.Close()
		return
	}
	defer s.track.remove(conn)
	s.h.serveHTTP1(conn, o, s.tls != nil, s.track)
}

// Shutdown stops accepting, lets requests in flight finish (until ctx
// ends) and closes idle connections, downstream and upstream.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	err := s.http.Shutdown(ctx)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for s.track.closeIdle() > 0 {
		select {
		case <-ctx.Done():
			s.track.closeAll()
			s.h.closeIdle()
			return ctx.Err()
		case <-t.C:
		}
	}
	s.h.closeIdle()
	return err
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error {
	s.stopAccepting()
	err := s.http.Close()
	s.track.closeAll()
	s.h.closeIdle()
	return err
}

func (s *Server) stopAccepting() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	if s.ln != nil {
		s.ln.Close()
	}
	if s.h2 != nil {
		s.h2.Close()
	}
}

// dstConn carries the origin of an accepted connection to the request
// handler.
type dstConn struct {
	net.Conn
	origin Origin
}
