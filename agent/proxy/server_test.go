// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/policy"
)

const host = "web.example"

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// seen is what the upstream application observed of one request.
type seen struct {
	proto, method, path, host string
	header                    http.Header
	tls                       bool
}

// upstream is a test application behind the proxy.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func (u *upstream) handle(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.reqs = append(u.reqs, seen{proto: r.Proto, method: r.Method, path: r.URL.RequestURI(), host: r.Host, header: r.Header.Clone(), tls: r.TLS != nil})
	u.mu.Unlock()
	io.WriteString(w, "hello from upstream\n")
}

func (u *upstream) last(t *testing.T) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("upstream saw no request")
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) addr(t *testing.T) netip.AddrPort {
	t.Helper()
	return netip.MustParseAddrPort(u.srv.Listener.Addr().String())
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(u.handle))
	t.Cleanup(u.srv.Close)
	return u
}

// newTLSUpstream serves TLS with a certificate for host issued by ca.
func newTLSUpstream(t *testing.T, ca *testCA) *upstream {
	u := &upstream{}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(u.handle))
	u.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.keyPair(t, host)}}
	u.srv.StartTLS()
	t.Cleanup(u.srv.Close)
	return u
}

// testProxy is a running proxy listener.
type testProxy struct {
	addr    string
	srv     *Server
	records chan Record
	done    chan error
}

func startProxy(t *testing.T, cfg PortConfig, dst netip.AddrPort) *testProxy {
	t.Helper()
	p := &testProxy{records: make(chan Record, 100), done: make(chan error, 1)}
	cfg.OriginalDst = func(net.Conn) (Origin, error) { return Origin{Dst: dst, SrcIdentity: 1000, DstIdentity: 1001}, nil }
	cfg.OnRecord = func(r Record) { p.records <- r }
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr, p.srv = ln.Addr().String(), srv
	go func() { p.done <- srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return p
}

func (p *testProxy) record(t *testing.T) Record {
	t.Helper()
	select {
	case r := <-p.records:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no record")
	}
	return Record{}
}

// client returns an HTTP client that trusts ca, sends sni and presents
// certs.
func client(ca *testCA, sni string, h2 bool, certs ...tls.Certificate) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: ca.pool(), ServerName: sni, Certificates: certs},
		ForceAttemptHTTP2: h2,
	}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// get sends GET path with Host host; extra headers are "Name: value".
func get(t *testing.T, c *http.Client, scheme, addr, path string, headers ...string) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, scheme+"://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	return resp, string(body), nil
}

// pki is one terminating secret "web" with a server certificate for host.
func pki(t testing.TB, extra map[string][]byte) (*CertStore, *testCA) {
	t.Helper()
	dir := t.TempDir()
	ca := newTestCA(t, "nori test ca")
	c, k := ca.issue(t, host, host)
	files := map[string][]byte{"tls.crt": c, "tls.key": k}
	for n, d := range extra {
		files[n] = d
	}
	writeSecret(t, dir, "web", files)
	return NewCertStore(dir, slog.New(slog.NewTextHandler(io.Discard, nil))), ca
}

func terminating(trustedCA string) *policy.TLSContext {
	return &policy.TLSContext{Secret: &policy.Secret{Name: "web"}, TrustedCA: trustedCA}
}

func TestTerminate(t *testing.T) {
	tests := []struct {
		name      string
		h2        bool
		headers   []string
		wantProto string
		wantID    string // "" means a generated UUID
	}{
		{name: "http1 generated id", wantProto: "HTTP/1.1"},
		{name: "incoming id kept", headers: []string{"X-Request-Id: abc-123"}, wantProto: "HTTP/1.1", wantID: "abc-123"},
		{name: "http2 client", h2: true, wantProto: "HTTP/2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, ca := pki(t, nil)
			up := newUpstream(t)
			p := startProxy(t, PortConfig{Certs: store, TerminatingTLS: terminating("")}, up.addr(t))
			resp, body, err := get(t, client(ca, host, tt.h2), "https", p.addr, "/", tt.headers...)
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			if resp.StatusCode != 200 || body != "hello from upstream\n" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			if resp.Proto != tt.wantProto {
				t.Errorf("client proto %s, want %s", resp.Proto, tt.wantProto)
			}
			s := up.last(t)
			if s.proto != "HTTP/1.1" || s.tls || s.method != "GET" || s.path != "/" || s.host != host {
				t.Errorf("upstream saw %+v, want plain HTTP/1.1 GET / Host %s", s, host)
			}
			if got := s.header.Get("X-Forwarded-Proto"); got != "https" {
				t.Errorf("x-forwarded-proto %q, want https", got)
			}
			id := s.header.Get("X-Request-Id")
			if tt.wantID != "" && id != tt.wantID {
				t.Errorf("x-request-id %q, want %q", id, tt.wantID)
			}
			if tt.wantID == "" && !uuidRE.MatchString(id) {
				t.Errorf("x-request-id %q is not a generated uuid", id)
			}
			rec := p.record(t)
			if rec.Status != 200 || rec.Verdict != VerdictForwarded || rec.Latency <= 0 || rec.RequestID != id ||
				rec.Method != "GET" || rec.Path != "/" || rec.Host != host || !rec.TLS || rec.Destination != up.addr(t) ||
				rec.Proto != tt.wantProto {
				t.Errorf("record %+v", rec)
			}
		})
	}
}

func TestPlainHTTPPort(t *testing.T) {
	up := newUpstream(t)
	p := startProxy(t, PortConfig{HTTP: []policy.PortRuleHTTP{{Path: "/ok"}}}, up.addr(t))
	c := &http.Client{Timeout: 10 * time.Second}
	for _, tt := range []struct {
		path string
		want int
	}{{"/ok", 200}, {"/nope", 403}} {
		resp, _, err := get(t, c, "http", p.addr, tt.path)
		if err != nil || resp.StatusCode != tt.want {
			t.Fatalf("GET %s: %v %v, want %d", tt.path, resp, err, tt.want)
		}
	}
	if got := up.last(t).header.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("x-forwarded-proto %q, want http", got)
	}
}

func TestHTTPRules(t *testing.T) {
	rules := []policy.PortRuleHTTP{
		{Method: "GET", Path: "/public/.*"},
		{Path: "/private", Headers: []string{"X-Token", "X-Env: prod"}},
	}
	tests := []struct {
		name    string
		path    string
		headers []string
		want    int
	}{
		{"allowed path", "/public/a", nil, 200},
		{"path is whole string", "/x/public/a", nil, 403},
		{"other path", "/admin", nil, 403},
		{"headers present", "/private", []string{"X-Token: anything", "X-Env: prod"}, 200},
		{"header missing", "/private", []string{"X-Env: prod"}, 403},
		{"header value differs", "/private", []string{"X-Token: t", "X-Env: dev"}, 403},
	}
	store, ca := pki(t, nil)
	up := newUpstream(t)
	p := startProxy(t, PortConfig{Certs: store, TerminatingTLS: terminating(""), HTTP: rules}, up.addr(t))
	c := client(ca, host, false)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, err := get(t, c, "https", p.addr, tt.path, tt.headers...)
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			rec := p.record(t)
			if rec.Status != tt.want {
				t.Errorf("record status %d, want %d", rec.Status, tt.want)
			}
			if tt.want == 403 {
				if body != "Access denied\n" {
					t.Errorf("body %q, want Access denied", body)
				}
				if rec.Verdict != VerdictDenied {
					t.Errorf("verdict %s, want denied", rec.Verdict)
				}
			}
		})
	}
}

func TestServerNames(t *testing.T) {
	tests := []struct {
		sni    string
		wantOK bool
	}{
		{host, true},
		{"WEB.example", true},
		{"other.example", false},
		{"", false},
	}
	store, ca := pki(t, nil)
	up := newUpstream(t)
	p := startProxy(t, PortConfig{Certs: store, TerminatingTLS: terminating(""), ServerNames: []string{host}}, up.addr(t))
	for _, tt := range tests {
		t.Run("sni="+tt.sni, func(t *testing.T) {
			// Verification is by the name the certificate carries; SNI
			// is what is tested.
			c := client(ca, tt.sni, false)
			c.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true
			resp, _, err := get(t, c, "https", p.addr, "/")
			if tt.wantOK && (err != nil || resp.StatusCode != 200) {
				t.Fatalf("GET: %v %v", resp, err)
			}
			if !tt.wantOK && err == nil {
				t.Fatalf("GET with sni %q succeeded, want handshake failure", tt.sni)
			}
		})
	}
}

func TestMTLS(t *testing.T) {
	tests := []struct {
		name        string
		trustedCA   string
		impliesMTLS bool
		clientCert  string // "", "trusted", "untrusted"
		wantOK      bool
	}{
		{"trustedCA no client cert", "ca.crt", false, "", false},
		{"trustedCA trusted cert", "ca.crt", false, "trusted", true},
		{"trustedCA untrusted cert", "ca.crt", false, "untrusted", false},
		{"ca.crt alone is not mtls", "", false, "", true},
		{"ca.crt alone implies mtls", "", true, "", false},
		{"ca.crt alone implies mtls with cert", "", true, "trusted", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clientCA := newTestCA(t, "client ca")
			store, ca := pki(t, map[string][]byte{"ca.crt": clientCA.pem})
			up := newUpstream(t)
			p := startProxy(t, PortConfig{Certs: store, TerminatingTLS: terminating(tt.trustedCA), ImpliesMTLS: tt.impliesMTLS}, up.addr(t))
			var certs []tls.Certificate
			switch tt.clientCert {
			case "trusted":
				certs = append(certs, clientCA.keyPair(t, "client"))
			case "untrusted":
				certs = append(certs, newTestCA(t, "rogue").keyPair(t, "client"))
			}
			resp, _, err := get(t, client(ca, host, false, certs...), "https", p.addr, "/")
			if tt.wantOK && (err != nil || resp.StatusCode != 200) {
				t.Fatalf("GET: %v %v", resp, err)
			}
			if !tt.wantOK && err == nil {
				t.Fatalf("GET succeeded with status %d, want refusal", resp.StatusCode)
			}
		})
	}
}

func TestOriginatingTLS(t *testing.T) {
	tests := []struct {
		name     string
		wrongCA  bool
		want     int
		wantVerd Verdict
	}{
		{"verified", false, 200, VerdictForwarded},
		{"wrong ca", true, 502, VerdictError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			upCA := newTestCA(t, "upstream ca")
			up := newTLSUpstream(t, upCA)
			store, ca := pki(t, nil)
			trust := upCA.pem
			if tt.wrongCA {
				trust = newTestCA(t, "wrong").pem
			}
			writeSecret(t, store.dir, "upstream", map[string][]byte{"ca.crt": trust})
			orig := &policy.TLSContext{Secret: &policy.Secret{Name: "upstream"}}
			p := startProxy(t, PortConfig{Certs: store, TerminatingTLS: terminating(""), OriginatingTLS: orig}, up.addr(t))
			resp, _, err := get(t, client(ca, host, false), "https", p.addr, "/")
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == 200 && !up.last(t).tls {
				t.Error("upstream request was not over TLS")
			}
			if rec := p.record(t); rec.Verdict != tt.wantVerd || rec.Status != tt.want {
				t.Errorf("record %+v", rec)
			}
		})
	}
}

func peerCN(resp *http.Response) string {
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		return ""
	}
	return resp.TLS.PeerCertificates[0].Subject.CommonName
}

func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "ca")
	c1, k1 := ca.issue(t, "v1", host)
	writeSecret(t, dir, "web", map[string][]byte{"tls.crt": c1, "tls.key": k1})
	store := NewCertStore(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	up := newUpstream(t)
	p := startProxy(t, PortConfig{Certs: store, TerminatingTLS: terminating("")}, up.addr(t))

	old := client(ca, host, false)
	resp, _, err := get(t, old, "https", p.addr, "/")
	if err != nil || peerCN(resp) != "v1" {
		t.Fatalf("first GET: %v, cert %q", err, peerCN(resp))
	}

	c2, k2 := ca.issue(t, "v2", host)
	writeSecret(t, dir, "web", map[string][]byte{"tls.crt": c2, "tls.key": k2})

	resp, _, err = get(t, client(ca, host, false), "https", p.addr, "/")
	if err != nil || peerCN(resp) != "v2" {
		t.Fatalf("new connection: %v, cert %q, want v2", err, peerCN(resp))
	}
	// The kept-alive connection still works and, being the same
	// connection, still shows the certificate of its handshake.
	resp, _, err = get(t, old, "https", p.addr, "/")
	if err != nil || resp.StatusCode != 200 || peerCN(resp) != "v1" {
		t.Fatalf("kept-alive connection: %v, cert %q, want v1", err, peerCN(resp))
	}
}

func TestShutdown(t *testing.T) {
	up := newUpstream(t)
	p := startProxy(t, PortConfig{}, up.addr(t))
	if _, _, err := get(t, &http.Client{Timeout: 5 * time.Second}, "http", p.addr, "/"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("Serve returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestNewServerErrors(t *testing.T) {
	store, _ := pki(t, nil)
	dst := func(net.Conn) (Origin, error) { return Origin{}, nil }
	tests := []struct {
		name string
		cfg  PortConfig
		want string
	}{
		{"no hook", PortConfig{}, "OriginalDst"},
		{"missing secret", PortConfig{Certs: store, OriginalDst: dst, TerminatingTLS: &policy.TLSContext{Secret: &policy.Secret{Name: "nope"}}}, "nope/tls.crt"},
		{"missing trusted ca", PortConfig{Certs: store, OriginalDst: dst, TerminatingTLS: terminating("client-ca.crt")}, "web/client-ca.crt"},
		{"bad regex", PortConfig{OriginalDst: dst, HTTP: []policy.PortRuleHTTP{{Path: "("}}}, "invalid regex"},
		{"serverNames without termination", PortConfig{OriginalDst: dst, ServerNames: []string{host}}, "serverNames"},
		{"originating without ca", PortConfig{Certs: store, OriginalDst: dst, OriginatingTLS: terminating("")}, "web/ca.crt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewServer(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want mention of %q", err, tt.want)
			}
		})
	}
}

// TestLateSecret starts a terminating port before its secret exists, as
// the agent does for a policy imported before its certificates: clients
// fail until the files appear, then succeed without a restart.
func TestLateSecret(t *testing.T) {
	up := newUpstream(t)
	dir := t.TempDir()
	store := NewCertStore(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	cfg := PortConfig{Certs: store, TerminatingTLS: terminating("")}
	if _, err := NewServer(PortConfig{Certs: store, TerminatingTLS: terminating(""),
		OriginalDst: func(net.Conn) (Origin, error) { return Origin{}, nil }}); err == nil {
		t.Fatal("NewServer without LateSecrets accepted a missing secret")
	}
	cfg.LateSecrets = true
	p := startProxy(t, cfg, up.addr(t))
	if err := p.srv.Check(); err == nil || !strings.Contains(err.Error(), "web/tls.crt") {
		t.Fatalf("Check before the secret = %v, want the missing web/tls.crt named", err)
	}
	ca := newTestCA(t, "late ca")
	c := client(ca, host, false)
	if _, _, err := get(t, c, "https", p.addr, "/"); err == nil {
		t.Fatal("a handshake succeeded without a certificate")
	}
	crt, key := ca.issue(t, host, host)
	writeSecret(t, dir, "web", map[string][]byte{"tls.crt": crt, "tls.key": key})
	if err := p.srv.Check(); err != nil {
		t.Fatalf("Check after the secret: %v", err)
	}
	resp, _, err := get(t, c, "https", p.addr, "/")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after the secret appeared: %v %v", resp, err)
	}
}
