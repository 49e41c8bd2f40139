// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// The HTTP/1.1 path serves one downstream connection on one goroutine:
// read a request, apply the rules, write it to an upstream connection
// taken from the pool, copy the response back. Next to net/http's server
// plus ReverseProxy and Transport (still used for HTTP/2), this saves the
// transport's two goroutines and channel handoffs per upstream
// connection, which were most of the proxy's cost per request.

const (
	// downstreamIdle is how long a keep-alive connection may wait for
	// its next request, as http.Server.IdleTimeout before.
	downstreamIdle = 2 * time.Minute
	// headerTimeout bounds reading a request's header once it started.
	headerTimeout = 30 * time.Second
)

// upstreamHeaderTimeout bounds the wait for an upstream's response header
// once the request is sent, as nginx's proxy_read_timeout (60 s): a hung
// application then costs the client a 504, not a connection held forever.
// A variable so that tests can shorten it.
var upstreamHeaderTimeout = 60 * time.Second

// hopHeaders are connection-level headers a proxy must not forward
// (RFC 9110 §7.6.1), besides those the Connection header names.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				h.Del(f)
			}
		}
	}
	for _, n := range hopHeaders {
		h.Del(n)
	}
}

// http1Conn is one downstream HTTP/1.x connection.
type http1Conn struct {
	h      *handler
	c      net.Conn
	origin Origin
	src    netip.AddrPort
	tls    bool
	br     *bufio.Reader
	bw     *bufio.Writer
	up     *upConn // kept across the connection's requests
}

func (h *handler) serveHTTP1(c net.Conn, o Origin, tlsOn bool, track *connTracker) {
	hc := &http1Conn{h: h, c: c, origin: o, tls: tlsOn,
		br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096)}
	hc.src, _ = netip.ParseAddrPort(c.RemoteAddr().String())
	defer func() {
		if hc.up != nil {
			h.pool.put(hc.up)
		}
		c.Close()
	}()
	for {
		track.setIdle(c, true)
		c.SetReadDeadline(time.Now().Add(downstreamIdle))
		if _, err := hc.br.Peek(1); err != nil {
			return
		}
		track.setIdle(c, false)
		if track.stopping() {
			return
		}
		c.SetReadDeadline(time.Now().Add(headerTimeout))
		req, err := http.ReadRequest(hc.br)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
			}
			return
		}
		c.SetReadDeadline(time.Time{})
		closeAfter := req.Close // outbound clears it for the upstream side
		if !hc.serve(req) || closeAfter {
			return
		}
	}
}

// serve answers one request and reports whether the connection can take
// another.
func (hc *http1Conn) serve(req *http.Request) bool {
	h := hc.h
	start := time.Now()
	id := req.Header.Get("X-Request-Id")
	if id == "" {
		id = newRequestID()
		req.Header.Set("X-Request-Id", id)
	}
	rec := Record{
		Time: start, Source: hc.src, Destination: hc.origin.Dst, Proto: req.Proto, TLS: hc.tls,
		Method: req.Method, Host: req.Host, Path: requestPath(req), RequestID: id,
		SrcIdentity: hc.origin.SrcIdentity, DstIdentity: hc.origin.DstIdentity, EndpointID: hc.origin.EndpointID,
	}
	defer func() {
		rec.Latency = time.Since(start)
		if h.onRecord != nil {
			h.onRecord(rec)
		}
	}()
	if req.Header.Get("Expect") != "" && !strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
		rec.Verdict, rec.Status = VerdictError, http.StatusExpectationFailed
		return hc.reply(req, http.StatusExpectationFailed, "")
	}
	if !h.match.Allows(req) {
		rec.Verdict, rec.Status = VerdictDenied, http.StatusForbidden
		return hc.reply(req, http.StatusForbidden, accessDenied)
	}
	if strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
		// The client waits for this before it sends the body; the
		// upstream gets the body without the expectation.
		req.Header.Del("Expect")
		io.WriteString(hc.bw, "HTTP/1.1 100 Continue\r\n\r\n")
		hc.bw.Flush()
	}
	downClose := req.Close
	upgrade := ""
	if hasToken(req.Header, "Connection", "upgrade") {
		upgrade = req.Header.Get("Upgrade")
	}
	hc.outbound(req)
	if upgrade != "" {
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", upgrade)
	}
	resp, err := hc.roundTrip(req)
	if err != nil {
		h.log.Debug("upstream request failed", "dst", hc.origin.Dst, "path", rec.Path, "err", err)
		status := http.StatusBadGateway
		if errors.Is(err, errUpstreamTimeout) {
			status = http.StatusGatewayTimeout
		}
		rec.Verdict, rec.Status = VerdictError, status
		req.Close = downClose
		return hc.reply(req, status, "") && req.Body == http.NoBody
	}
	rec.Verdict, rec.Status = VerdictForwarded, resp.StatusCode
	if resp.StatusCode == http.StatusSwitchingProtocols && upgrade != "" {
		hc.tunnel(resp)
		return false
	}
	upClose := resp.Close
	removeHopHeaders(resp.Header)
	resp.Close = downClose
	err = resp.Write(hc.bw)
	if err == nil {
		err = hc.bw.Flush()
	}
	resp.Body.Close()
	if upClose || err != nil {
		hc.dropUpstream()
	}
	return err == nil
}

// outbound turns a downstream request into the upstream one, as
// ReverseProxy's SetXForwarded does for HTTP/2.
func (hc *http1Conn) outbound(req *http.Request) {
	removeHopHeaders(req.Header)
	if hc.src.IsValid() {
		ip := hc.src.Addr().String()
		if prior := req.Header["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		req.Header.Set("X-Forwarded-For", ip)
	}
	req.Header.Set("X-Forwarded-Host", req.Host)
	if hc.tls {
		req.Header.Set("X-Forwarded-Proto", "https")
	} else {
		req.Header.Set("X-Forwarded-Proto", "http")
	}
	// The upstream connection is ours and kept alive; the downstream's
	// wish to close is honoured on the downstream side.
	req.Close = false
}

// roundTrip sends req on the connection's upstream and reads the
// response header. A pooled connection the upstream closed while idle
// fails before any response byte; then a bodiless request is sent again
// on a new connection, as net/http's Transport does.
func (hc *http1Conn) roundTrip(req *http.Request) (*http.Response, error) {
	name := ""
	if hc.h.originating != nil {
		name = req.Host
		if host, _, err := net.SplitHostPort(name); err == nil {
			name = host
		}
	}
	k := upKey{dst: hc.origin.Dst, mark: hc.origin.Mark, name: name, tls: hc.h.originating != nil}
	if hc.up != nil && hc.up.key != k {
		hc.h.pool.put(hc.up)
		hc.up = nil
	}
	for attempt := 0; ; attempt++ {
		reused := true
		if hc.up == nil {
			var err error
			if hc.up, reused, err = hc.h.pool.get(context.Background(), k); err != nil {
				return nil, err
			}
		}
		err := req.Write(hc.up.bw)
		if err == nil {
			err = hc.up.bw.Flush()
		}
		var resp *http.Response
		if err == nil {
			hc.up.c.SetReadDeadline(time.Now().Add(upstreamHeaderTimeout))
			resp, err = readFinalResponse(hc.up.br, req)
			hc.up.c.SetReadDeadline(time.Time{})
		}
		if err == nil {
			return resp, nil
		}
		if isTimeout(err) {
			hc.dropUpstream()
			return nil, fmt.Errorf("%w: %w", errUpstreamTimeout, err)
		}
		hc.dropUpstream()
		if !reused || attempt > 0 || (req.Body != nil && req.Body != http.NoBody) {
			return nil, err
		}
	}
}

// errUpstreamTimeout: the upstream sent no response header in time.
var errUpstreamTimeout = errors.New("upstream response header timeout")

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (hc *http1Conn) dropUpstream() {
	if hc.up != nil {
		hc.up.c.Close()
		hc.up = nil
	}
}

// maxDrain is how much of a refused request's body is read to keep the
// connection; a longer body closes it instead.
const maxDrain = 1 << 20

// reply answers a request the proxy itself decides, and reports whether
// the connection can go on (the unread request body is drained first).
func (hc *http1Conn) reply(req *http.Request, status int, body string) bool {
	n, err := io.Copy(io.Discard, io.LimitReader(req.Body, maxDrain+1))
	more := err == nil && n <= maxDrain && !req.Close
	resp := &http.Response{
		StatusCode: status, ProtoMajor: 1, ProtoMinor: 1, Request: req,
		Header:        http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		ContentLength: int64(len(body)), Body: io.NopCloser(strings.NewReader(body)), Close: !more,
	}
	if resp.Write(hc.bw) != nil || hc.bw.Flush() != nil {
		return false
	}
	return more
}

// tunnel hands the connection over to a protocol the upstream switched
// to (WebSocket): bytes are copied both ways until either side closes.
func (hc *http1Conn) tunnel(resp *http.Response) {
	up := hc.up
	hc.up = nil
	defer up.c.Close()
	if err := resp.Write(hc.bw); err != nil || hc.bw.Flush() != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(up.c, hc.br); done <- struct{}{} }()
	go func() { io.Copy(hc.c, up.br); done <- struct{}{} }()
	<-done
}

// hasToken reports whether a comma-separated header holds token.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h[name] {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}

// readFinalResponse skips informational responses (103 Early Hints and
// the like; 101 is final here) and returns the final one.
func readFinalResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
		resp.Body.Close()
	}
}
