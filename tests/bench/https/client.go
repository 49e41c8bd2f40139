// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// target is where requests go and how connections to it are made.
type target struct {
	addr    string      // host:port
	tls     *tls.Config // nil: plain HTTP
	request []byte      // the whole request, sent as is
	timeout time.Duration
}

// newTarget parses an http or https URL. closeConn asks the server to close
// after the response (a connection per request), so that the server, not
// the client, holds TIME_WAIT and the client never runs out of ports.
func newTarget(rawURL string, insecure bool, curves string, closeConn bool, timeout time.Duration) (*target, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse url: %w", err)
	}
	t := &target{timeout: timeout}
	port := u.Port()
	switch u.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
		ids, err := parseCurves(curves)
		if err != nil {
			return nil, err
		}
		t.tls = &tls.Config{
			ServerName:         u.Hostname(),
			InsecureSkipVerify: insecure,
			MinVersion:         tls.VersionTLS13,
			NextProtos:         []string{"http/1.1"},
			CurvePreferences:   ids, // nil: Go's defaults
			// No ClientSessionCache: without one the client neither
			// stores tickets nor offers a PSK, so every handshake is a
			// full one.
		}
	default:
		return nil, fmt.Errorf("parse url %q: scheme must be http or https", rawURL)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("parse url %q: no host", rawURL)
	}
	t.addr = net.JoinHostPort(u.Hostname(), port)
	path := u.RequestURI()
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: nori-bench-https\r\n", path, u.Host)
	if closeConn {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	t.request = []byte(b.String())
	return t, nil
}

// parseCurves maps "X25519,P-256" to curve IDs by their Go names.
func parseCurves(list string) ([]tls.CurveID, error) {
	if list == "" {
		return nil, nil
	}
	known := []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521}
	var ids []tls.CurveID
	for _, name := range strings.Split(list, ",") {
		found := false
		for _, id := range known {
			if strings.EqualFold(id.String(), strings.TrimSpace(name)) {
				ids = append(ids, id)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("parse curves: unknown %q (one of %v)", name, known)
		}
	}
	return ids, nil
}

// conn is one client connection.
type conn struct {
	c  net.Conn
	br *bufio.Reader
	// tls is the handshake's outcome (nil for plain HTTP).
	tls *tls.ConnectionState
}

// dial opens a TCP connection and, for https, completes the handshake.
func (t *target) dial() (*conn, error) {
	c, err := net.DialTimeout("tcp", t.addr, t.timeout)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", t.addr, err)
	}
	out := &conn{c: c}
	if t.tls != nil {
		tc := tls.Client(c, t.tls)
		_ = tc.SetDeadline(time.Now().Add(t.timeout))
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", t.addr, err)
		}
		st := tc.ConnectionState()
		out.c, out.tls = tc, &st
	}
	out.br = bufio.NewReaderSize(out.c, 4096)
	return out, nil
}

// response is what do read.
type response struct {
	status int
	bytes  int64
	server string // the Server header: tells nginx from the backend
	close  bool   // the server closes after this response
}

// do sends the request on c and reads the whole response.
func (t *target) do(c *conn) (response, error) {
	_ = c.c.SetDeadline(time.Now().Add(t.timeout))
	if _, err := c.c.Write(t.request); err != nil {
		return response{}, fmt.Errorf("send request to %s: %w", t.addr, err)
	}
	r, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return response{}, fmt.Errorf("read response from %s: %w", t.addr, err)
	}
	n, err := io.Copy(io.Discard, r.Body)
	r.Body.Close()
	if err != nil {
		return response{}, fmt.Errorf("read body from %s: %w", t.addr, err)
	}
	resp := response{status: r.StatusCode, bytes: n, server: r.Header.Get("Server"), close: r.Close}
	if r.StatusCode != http.StatusOK {
		return resp, fmt.Errorf("%s answered %s", t.addr, r.Status)
	}
	return resp, nil
}

// closeAfterServer waits (briefly) for the server's FIN before closing, so
// that TIME_WAIT stays on the server's side.
func (c *conn) closeAfterServer() {
	_ = c.c.SetReadDeadline(time.Now().Add(time.Second))
	_, err := io.Copy(io.Discard, c.br)
	_ = err // EOF, a reset or the deadline: the connection is done either way
	c.c.Close()
}

// tlsDesc names the protocol, key exchange, cipher and ALPN of a handshake.
func tlsDesc(st *tls.ConnectionState) string {
	if st == nil {
		return "none (plain HTTP)"
	}
	alpn := st.NegotiatedProtocol
	if alpn == "" {
		alpn = "none"
	}
	return fmt.Sprintf("%s, %s, %s, ALPN %s", tls.VersionName(st.Version), st.CurveID, tls.CipherSuiteName(st.CipherSuite), alpn)
}

var errNoRequests = errors.New("no request succeeded")
