// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// BenchmarkTerminateKeepAlive is the proxy's own cost per request on
// loopback: HTTPS keep-alive clients → terminating proxy → plain
// upstream. `go test -bench Terminate -cpuprofile` shows where it goes;
// `make bench` compares the whole path against nginx.
func BenchmarkTerminateKeepAlive(b *testing.B) {
	body := make([]byte, 64)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(body) }))
	defer up.Close()
	store, ca := pki(b, nil)
	srv, err := NewServer(PortConfig{
		Certs:          store,
		TerminatingTLS: terminating(""),
		OriginalDst: func(net.Conn) (Origin, error) {
			return Origin{Dst: netip.MustParseAddrPort(up.Listener.Addr().String())}, nil
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: ca.pool(), ServerName: host},
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConnsPerHost: 64,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	url := "https://" + ln.Addr().String() + "/"
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
