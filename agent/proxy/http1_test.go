// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/policy"
)

// rawUpstream is an HTTP/1.1 server that counts its connections.
type rawUpstream struct {
	srv   *httptest.Server
	mu    sync.Mutex
	conns int
	last  *http.Request
	body  string
}

func newRawUpstream(t *testing.T, h http.HandlerFunc) *rawUpstream {
	u := &rawUpstream{}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.last, u.body = r, string(b)
		u.mu.Unlock()
		h(w, r)
	}))
	u.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.mu.Lock()
			u.conns++
			u.mu.Unlock()
		}
	}
	u.srv.Start()
	t.Cleanup(u.srv.Close)
	return u
}

func (u *rawUpstream) stats() (int, *http.Request, string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.conns, u.last, u.body
}

// dialPlain opens a raw connection to a plain-HTTP proxy port.
func dialPlain(t *testing.T, p *testProxy) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c, bufio.NewReader(c)
}

func roundTripRaw(t *testing.T, c net.Conn, br *bufio.Reader, raw string) (*http.Response, string) {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestHTTP1KeepAliveReusesOneUpstream(t *testing.T) {
	u := newRawUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok "+r.URL.Path) })
	p := startProxy(t, PortConfig{}, netip.MustParseAddrPort(u.srv.Listener.Addr().String()))
	c, br := dialPlain(t, p)
	for i := range 5 {
		resp, body := roundTripRaw(t, c, br, fmt.Sprintf("GET /r%d HTTP/1.1\r\nHost: web.example\r\n\r\n", i))
		if resp.StatusCode != 200 || body != fmt.Sprintf("ok /r%d", i) || resp.Close {
			t.Fatalf("request %d: %d %q close=%v", i, resp.StatusCode, body, resp.Close)
		}
	}
	if conns, _, _ := u.stats(); conns != 1 {
		t.Fatalf("upstream saw %d connections for 5 keep-alive requests, want 1", conns)
	}
}

func TestHTTP1ConnectionClose(t *testing.T) {
	u := newRawUpstream(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "bye") })
	p := startProxy(t, PortConfig{}, netip.MustParseAddrPort(u.srv.Listener.Addr().String()))
	c, br := dialPlain(t, p)
	resp, body := roundTripRaw(t, c, br, "GET / HTTP/1.1\r\nHost: web.example\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 || body != "bye" || !resp.Close {
		t.Fatalf("got %d %q close=%v, want 200 \"bye\" with Connection: close", resp.StatusCode, body, resp.Close)
	}
	// The proxy closes first, as a client sending Connection: close
	// expects.
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the response: %v, want EOF", err)
	}
	// And the upstream connection goes back to the pool for the next
	// downstream connection.
	c2, br2 := dialPlain(t, p)
	roundTripRaw(t, c2, br2, "GET / HTTP/1.1\r\nHost: web.example\r\n\r\n")
	if conns, _, _ := u.stats(); conns != 1 {
		t.Fatalf("upstream saw %d connections, want 1 (pooled)", conns)
	}
}

func TestHTTP1Headers(t *testing.T) {
	u := newRawUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-App", "yes")
	})
	p := startProxy(t, PortConfig{}, netip.MustParseAddrPort(u.srv.Listener.Addr().String()))
	c, br := dialPlain(t, p)
	resp, _ := roundTripRaw(t, c, br, "GET / HTTP/1.1\r\nHost: web.example\r\nConnection: X-Hop\r\nX-Hop: 1\r\n"+
		"X-Forwarded-For: 192.0.2.9\r\nProxy-Authorization: secret\r\nX-Keep: 1\r\n\r\n")
	if resp.Header.Get("X-App") != "yes" || resp.Header.Get("Keep-Alive") != "" {
		t.Errorf("response headers %v: want X-App kept and Keep-Alive (hop-by-hop) removed", resp.Header)
	}
	_, r, _ := u.stats()
	for _, h := range []string{"X-Hop", "Proxy-Authorization"} {
		if r.Header.Get(h) != "" {
			t.Errorf("upstream got hop-by-hop header %s", h)
		}
	}
	if r.Header.Get("X-Keep") != "1" || r.Host != "web.example" {
		t.Errorf("upstream request lost X-Keep or Host: %v %q", r.Header, r.Host)
	}
	if got := r.Header.Get("X-Forwarded-For"); got != "192.0.2.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want the client appended", got)
	}
	if r.Header.Get("X-Forwarded-Proto") != "http" || !uuidRE.MatchString(r.Header.Get("X-Request-Id")) {
		t.Errorf("X-Forwarded-Proto %q, X-Request-Id %q", r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Request-Id"))
	}
}

func TestHTTP1Bodies(t *testing.T) {
	u := newRawUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Transfer-Encoding", "chunked")
		w.(http.Flusher).Flush()
		io.WriteString(w, "streamed")
	})
	p := startProxy(t, PortConfig{}, netip.MustParseAddrPort(u.srv.Listener.Addr().String()))
	c, br := dialPlain(t, p)
	t.Run("chunked request and response", func(t *testing.T) {
		resp, body := roundTripRaw(t, c, br, "POST /up HTTP/1.1\r\nHost: web.example\r\nTransfer-Encoding: chunked\r\n\r\n"+
			"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
		if _, _, got := u.stats(); got != "hello world" || body != "streamed" || resp.StatusCode != 200 {
			t.Fatalf("upstream body %q, response %d %q", got, resp.StatusCode, body)
		}
	})
	t.Run("expect 100-continue", func(t *testing.T) {
		io.WriteString(c, "PUT /x HTTP/1.1\r\nHost: web.example\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
		cont, err := http.ReadResponse(br, nil)
		if err != nil || cont.StatusCode != 100 {
			t.Fatalf("before the body: %v %v, want 100 Continue", cont, err)
		}
		resp, body := roundTripRaw(t, c, br, "data")
		if _, r, got := u.stats(); got != "data" || r.Header.Get("Expect") != "" || resp.StatusCode != 200 || body != "streamed" {
			t.Fatalf("upstream body %q (Expect %q), response %d %q", got, r.Header.Get("Expect"), resp.StatusCode, body)
		}
	})
}

func TestHTTP1UpstreamClosedWhileIdle(t *testing.T) {
	// The upstream drops each connection after its response without
	// saying so; the proxy must notice on reuse and dial again.
	u := newRawUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	})
	p := startProxy(t, PortConfig{}, netip.MustParseAddrPort(u.srv.Listener.Addr().String()))
	c, br := dialPlain(t, p)
	roundTripRaw(t, c, br, "GET / HTTP/1.1\r\nHost: web.example\r\n\r\n")
	u.srv.CloseClientConnections()
	time.Sleep(50 * time.Millisecond)
	resp, body := roundTripRaw(t, c, br, "GET / HTTP/1.1\r\nHost: web.example\r\n\r\n")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("after the upstream closed its idle connection: %d %q", resp.StatusCode, body)
	}
}

func TestHTTP1Upgrade(t *testing.T) {
	// A minimal upgrade: the upstream switches to an echo protocol.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil || !strings.EqualFold(req.Header.Get("Upgrade"), "echo") {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		io.Copy(c, br)
	}()
	p := startProxy(t, PortConfig{}, netip.MustParseAddrPort(ln.Addr().String()))
	c, br := dialPlain(t, p)
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: web.example\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("through the tunnel: %q %v", buf, err)
	}
}

// TestHTTP1DeniedBodies: a refused request's body is drained so the
// connection goes on, unless it is too long to drain.
func TestHTTP1DeniedBodies(t *testing.T) {
	u := newRawUpstream(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	p := startProxy(t, PortConfig{HTTP: []policy.PortRuleHTTP{{Method: "GET"}}}, netip.MustParseAddrPort(u.srv.Listener.Addr().String()))
	c, br := dialPlain(t, p)
	resp, body := roundTripRaw(t, c, br, "POST / HTTP/1.1\r\nHost: web.example\r\nContent-Length: 5\r\n\r\nhello")
	if resp.StatusCode != http.StatusForbidden || body != accessDenied || resp.Close {
		t.Fatalf("small denied POST: %d %q close=%v, want 403 Access denied, kept alive", resp.StatusCode, body, resp.Close)
	}
	if resp, body := roundTripRaw(t, c, br, "GET / HTTP/1.1\r\nHost: web.example\r\n\r\n"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("GET after the drained body: %d %q", resp.StatusCode, body)
	}
	big := strings.Repeat("x", maxDrain+10)
	go io.WriteString(c, fmt.Sprintf("POST / HTTP/1.1\r\nHost: web.example\r\nContent-Length: %d\r\n\r\n%s", len(big), big))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusForbidden || !resp.Close {
		t.Fatalf("big denied POST: %v %v, want 403 with Connection: close", resp, err)
	}
}

// TestHTTP1UpstreamHeaderTimeout: an upstream that never answers costs the
// client a 504 after the header timeout, and the connection serves the
// next request on a new upstream connection.
func TestHTTP1UpstreamHeaderTimeout(t *testing.T) {
	defer func(d time.Duration) { upstreamHeaderTimeout = d }(upstreamHeaderTimeout)
	upstreamHeaderTimeout = 200 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	u := newRawUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		io.WriteString(w, "ok")
	})
	p := startProxy(t, PortConfig{}, netip.MustParseAddrPort(u.srv.Listener.Addr().String()))
	c, br := dialPlain(t, p)
	start := time.Now()
	resp, _ := roundTripRaw(t, c, br, "GET /hang HTTP/1.1\r\nHost: web.example\r\n\r\n")
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("hung upstream: got %d, want 504", resp.StatusCode)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the 504 took %s with a 200ms header timeout", d)
	}
	resp, body := roundTripRaw(t, c, br, "GET /next HTTP/1.1\r\nHost: web.example\r\n\r\n")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("next request on the same connection: %d %q, want 200 \"ok\"", resp.StatusCode, body)
	}
}
