// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/netip"
	"time"
)

// Verdict is what the proxy did with one request.
type Verdict string

// Verdicts of a Record.
const (
	VerdictForwarded Verdict = "forwarded"
	VerdictDenied    Verdict = "denied"
	VerdictError     Verdict = "error" // allowed, but the upstream failed
)

// Record describes one proxied request, for `nori monitor` L7 events and
// metrics.
type Record struct {
	Time        time.Time
	Source      netip.AddrPort // the client
	Destination netip.AddrPort // the original destination
	SrcIdentity uint32         // the client's security identity, 0 when unknown
	DstIdentity uint32         // the destination's
	EndpointID  uint16         // the local endpoint whose policy applied
	Proto       string         // HTTP/1.1, HTTP/2.0
	TLS         bool           // TLS was terminated
	Method      string
	Host        string
	Path        string
	Status      int
	Latency     time.Duration
	Verdict     Verdict
	RequestID   string
}

// newRequestID returns a random version 4 UUID, the form Envoy uses for
// x-request-id.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// statusWriter remembers the status the handler sent.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines, which
// ReverseProxy uses for streamed responses.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
