// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startBackend serves the backend on loopback, over TLS when tlsCfg is
// set, and returns its address.
func startBackend(t *testing.T, tlsCfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	go func() { _ = newBackend(64).serve(ln) }()
	return ln.Addr().String()
}

// serverTLS is a TLS 1.3 server config with a certificate from writeCert.
func serverTLS(t *testing.T) *tls.Config {
	t.Helper()
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := writeCert(crt, key, []string{"127.0.0.1", "localhost"}); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatalf("load written certificate: %v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"}}
}

func TestLoadLoopback(t *testing.T) {
	plain := startBackend(t, nil)
	secure := startBackend(t, serverTLS(t))
	const c = 4
	tests := []struct {
		name, url, mode string
		wantTLS         string
		wantHandshake   string
		// connections opened while measuring: exactly c with keep-alive,
		// one per request otherwise
		perRequest bool
	}{
		{"plain keepalive", "http://" + plain + "/", "keepalive", "none", handshakePlain, false},
		{"plain newconn", "http://" + plain + "/", "newconn", "none", handshakePlain, true},
		{"tls keepalive", "https://" + secure + "/", "keepalive", "TLS 1.3", handshakeKeepalive, false},
		{"tls newconn", "https://" + secure + "/", "newconn", "TLS 1.3", handshakeNewconn, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := newTarget(tt.url, true, "", tt.mode == "newconn", 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			// No warm-up: keep-alive connections then open inside the
			// measured window and are counted.
			res := run(tg, tt.mode, c, 0, 300*time.Millisecond)
			t.Logf("%+v", res)
			if res.Requests < 10 || res.Errors != 0 || res.WarmupErrs != 0 {
				t.Fatalf("requests %d, errors %d+%d (%s)", res.Requests, res.Errors, res.WarmupErrs, res.FirstError)
			}
			if !strings.HasPrefix(res.TLS, tt.wantTLS) || res.Handshake != tt.wantHandshake {
				t.Errorf("tls %q handshake %q, want %q… and %q", res.TLS, res.Handshake, tt.wantTLS, tt.wantHandshake)
			}
			if res.Resumed != 0 {
				t.Errorf("%d sessions resumed, want none", res.Resumed)
			}
			wantConns := c
			if tt.perRequest {
				// The last requests may end after the window.
				wantConns = res.Requests
			}
			if res.Connections < wantConns || res.Connections > wantConns+c {
				t.Errorf("%d connections for %d requests, want %d (+ at most %d)", res.Connections, res.Requests, wantConns, c)
			}
			if res.P50ms <= 0 || res.P99ms < res.P50ms || res.MaxMs < res.P99ms {
				t.Errorf("latencies p50 %v p99 %v max %v ms", res.P50ms, res.P99ms, res.MaxMs)
			}
		})
	}
}

func TestGet(t *testing.T) {
	secure := startBackend(t, serverTLS(t))
	p, err := get("https://"+secure+"/", true, "X25519", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := probe{Status: 200, Bytes: 64, Server: backendServer, TLS: "TLS 1.3, X25519, TLS_AES_128_GCM_SHA256, ALPN http/1.1"}
	if p != want {
		t.Errorf("get = %+v, want %+v", p, want)
	}
	// Verification is on unless -insecure: a self-signed certificate fails.
	if _, err := get("https://"+secure+"/", false, "", 2*time.Second); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("get without -insecure: err = %v, want a certificate error", err)
	}
	// Nothing listening: the error names the address.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	if _, err := get("https://"+dead+"/", true, "", time.Second); err == nil || !strings.Contains(err.Error(), dead) {
		t.Errorf("get from a closed port: err = %v, want one naming %s", err, dead)
	}
}
