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
}

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
	cfg  PortConfig
	tls  *tls.Config
	h    *handler
	http *http.Server
}

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
	s := &Server{cfg: cfg}
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
	s.http = &http.Server{
		Handler:           h,
		TLSConfig:         s.tls,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
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

// Serve accepts connections on ln until Shutdown or Close; it then
// returns nil. With terminatingTLS it negotiates HTTP/2 or HTTP/1.1 by
// ALPN.
func (s *Server) Serve(ln net.Listener) error {
	var l net.Listener = &dstListener{Listener: ln, hook: s.cfg.OriginalDst, log: s.cfg.Logger}
	if s.tls != nil {
		l = tls.NewListener(l, s.tls)
	}
	err := s.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve proxy: %w", err)
}

// Shutdown stops accepting, lets requests in flight finish (until ctx
// ends) and closes idle connections, downstream and upstream.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	s.h.closeIdle()
	return err
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error {
	err := s.http.Close()
	s.h.closeIdle()
	return err
}

// dstConn carries the origin of an accepted connection to the request
// handler.
type dstConn struct {
	net.Conn
	origin Origin
}

// dstListener asks the hook for every accepted connection's original
// destination; a connection without one is dropped, not served.
type dstListener struct {
	net.Listener
	hook func(net.Conn) (Origin, error)
	log  *slog.Logger
}

func (l *dstListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		o, err := l.hook(c)
		if err != nil {
			l.log.Warn("dropping proxied connection without original destination", "remote", c.RemoteAddr(), "err", err)
			c.Close()
			continue
		}
		return &dstConn{Conn: c, origin: o}, nil
	}
}
