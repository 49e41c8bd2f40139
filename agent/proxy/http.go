// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nori-net/nori/agent/policy"
)

// accessDenied is the body of a request the rules deny, as Cilium's
// Envoy answers it.
const accessDenied = "Access denied\n"

// maxTLSTransports bounds the per-server-name upstream pools of
// originating TLS; the names come from requests, so they are not trusted.
const maxTLSTransports = 256

type ctxKey struct{}

// connInfo is what the listener learned about a downstream connection.
type connInfo struct {
	origin Origin
}

type reqState struct {
	failed bool
}

type reqKey struct{}

// handler applies the rules and forwards allowed requests to the
// connection's original destination.
type handler struct {
	match    *Matcher
	onRecord func(Record)
	log      *slog.Logger
	proxy    *httputil.ReverseProxy

	// originating TLS
	certs       *CertStore
	originating *policy.TLSContext

	pool *upPool  // the HTTP/1.1 path's upstream connections
	dial DialFunc // PortConfig.Dial; nil dials on the node with a mark

	// The HTTP/2 path's (net/http) upstream transports.
	mu      sync.Mutex
	plainTr map[uint32]*http.Transport     // by upstream mark
	tlsTr   map[tlsPoolKey]*http.Transport // originating TLS
}

// tlsPoolKey separates originating-TLS pools by verified server name and
// by upstream mark.
type tlsPoolKey struct {
	name string
	mark uint32
}

func newHandler(cfg *PortConfig) (*handler, error) {
	m, err := NewMatcher(cfg.HTTP)
	if err != nil {
		return nil, err
	}
	h := &handler{
		match:       m,
		onRecord:    cfg.OnRecord,
		log:         cfg.Logger,
		certs:       cfg.Certs,
		originating: cfg.OriginatingTLS,
		dial:        cfg.Dial,
		plainTr:     map[uint32]*http.Transport{},
		tlsTr:       map[tlsPoolKey]*http.Transport{},
	}
	h.pool = newUpPool(h)
	h.proxy = &httputil.ReverseProxy{
		Rewrite:      h.rewrite,
		Transport:    roundTripperFunc(h.roundTrip),
		ErrorHandler: h.upstreamError,
		ErrorLog:     slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
	}
	return h, nil
}

// newDialer returns the dialer of upstream connections: with mark set,
// every socket carries it (SO_MARK), which tells the datapath that the
// connection comes from the proxy and for whom.
func newDialer(mark uint32) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if mark != 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
			}); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("set SO_MARK %#x: %w", mark, serr)
			}
			return nil
		}
	}
	return d
}

// dialer returns how upstream connections for a client with mark are
// made.
func (h *handler) dialer(mark uint32) DialFunc {
	if h.dial != nil {
		return h.dial
	}
	return newDialer(mark).DialContext
}

// newTransport returns an HTTP/1.1-only upstream transport: applications
// behind the proxy are spoken to as they were before the policy.
func newTransport(dial DialFunc) *http.Transport {
	return &http.Transport{
		DialContext:           dial,
		ResponseHeaderTimeout: upstreamHeaderTimeout,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ci, _ := r.Context().Value(ctxKey{}).(*connInfo)
	id := r.Header.Get("X-Request-Id")
	if id == "" {
		id = newRequestID()
		r.Header.Set("X-Request-Id", id)
	}
	rec := Record{
		Time:      start,
		Proto:     r.Proto,
		TLS:       r.TLS != nil,
		Method:    r.Method,
		Host:      r.Host,
		Path:      requestPath(r),
		RequestID: id,
	}
	if ci != nil {
		rec.Destination = ci.origin.Dst
		rec.SrcIdentity = ci.origin.SrcIdentity
		rec.DstIdentity = ci.origin.DstIdentity
		rec.EndpointID = ci.origin.EndpointID
	}
	if src, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		rec.Source = src
	}
	sw := &statusWriter{ResponseWriter: w}
	if !h.match.Allows(r) {
		rec.Verdict = VerdictDenied
		sw.Header().Set("Content-Type", "text/plain")
		sw.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(sw, accessDenied)
	} else if ci == nil {
		rec.Verdict = VerdictError
		http.Error(sw, "no original destination", http.StatusBadGateway)
	} else {
		st := &reqState{}
		r = r.WithContext(context.WithValue(r.Context(), reqKey{}, st))
		h.proxy.ServeHTTP(sw, r)
		rec.Verdict = VerdictForwarded
		if st.failed {
			rec.Verdict = VerdictError
		}
	}
	rec.Status = sw.status
	rec.Latency = time.Since(start)
	if h.onRecord != nil {
		h.onRecord(rec)
	}
}

func (h *handler) rewrite(pr *httputil.ProxyRequest) {
	ci := pr.In.Context().Value(ctxKey{}).(*connInfo)
	pr.Out.URL.Scheme = "http"
	if h.originating != nil {
		pr.Out.URL.Scheme = "https"
	}
	pr.Out.URL.Host = ci.origin.Dst.String()
	// Out is a clone of In, so Host (the original authority) and the
	// x-request-id set in ServeHTTP carry over; SetXForwarded adds
	// x-forwarded-proto https when TLS was terminated here.
	pr.SetXForwarded()
}

// roundTrip picks the upstream transport: plaintext, or originating TLS
// pooled per server name so a connection verified for one name never
// carries a request for another.
func (h *handler) roundTrip(r *http.Request) (*http.Response, error) {
	var mark uint32
	if ci, ok := r.Context().Value(ctxKey{}).(*connInfo); ok {
		mark = ci.origin.Mark
	}
	if h.originating == nil {
		return h.plainTransport(mark).RoundTrip(r)
	}
	name := r.Host
	if host, _, err := net.SplitHostPort(name); err == nil {
		name = host
	}
	tr, err := h.tlsTransport(tlsPoolKey{name: name, mark: mark})
	if err != nil {
		return nil, err
	}
	return tr.RoundTrip(r)
}

// plainTransport returns the pool of plaintext upstream connections made
// with mark. Marks are per client identity, a set the cluster bounds.
func (h *handler) plainTransport(mark uint32) *http.Transport {
	h.mu.Lock()
	defer h.mu.Unlock()
	tr, ok := h.plainTr[mark]
	if !ok {
		tr = newTransport(h.dialer(mark))
		h.plainTr[mark] = tr
	}
	return tr
}

func (h *handler) tlsTransport(key tlsPoolKey) (*http.Transport, error) {
	name := key.name
	h.mu.Lock()
	defer h.mu.Unlock()
	if tr, ok := h.tlsTr[key]; ok {
		return tr, nil
	}
	if len(h.tlsTr) >= maxTLSTransports {
		for k, tr := range h.tlsTr {
			tr.CloseIdleConnections()
			delete(h.tlsTr, k)
			break
		}
	}
	dial := h.dialer(key.mark)
	tr := newTransport(dial)
	tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		// Built per dial so a renewed CA or client certificate is used.
		cfg, err := ClientTLS(h.certs, h.originating, name)
		if err != nil {
			return nil, err
		}
		raw, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := tls.Client(raw, cfg)
		if err := c.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("tls handshake with upstream %s: %w", addr, err)
		}
		return c, nil
	}
	h.tlsTr[key] = tr
	return tr, nil
}

func (h *handler) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if st, ok := r.Context().Value(reqKey{}).(*reqState); ok {
		st.failed = true
	}
	h.log.Debug("upstream request failed", "host", r.Host, "path", r.URL.Path, "err", err)
	if isTimeout(err) {
		w.WriteHeader(http.StatusGatewayTimeout)
		return
	}
	w.WriteHeader(http.StatusBadGateway)
}

func (h *handler) closeIdle() {
	h.pool.closeIdle(true)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, tr := range h.plainTr {
		tr.CloseIdleConnections()
	}
	for _, tr := range h.tlsTr {
		tr.CloseIdleConnections()
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
