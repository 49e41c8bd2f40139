// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/kvstore/kvstoretest"
	"github.com/nori-net/nori/tests/harness"
)

// Proxy test timing. A policy change must reach the agent on h2 and its
// proxy; like the policy suite, the time is polled generously and logged.
const (
	proxyDeadline = 15 * time.Second
	curlConnect   = 2 * time.Second
	curlMax       = 5 * time.Second
)

// Ports of app2's servers, all run by the test process in app2's netns.
const (
	tlsPort      = 443  // plain HTTP: the seed's policy terminates TLS in front of it
	plainPort    = 8080 // plain HTTP: the "non-TLS port of the same endpoint"
	upstreamPort = 8443 // app2's own TLS server, for originatingTLS
)

// Secret folders under every host's --certificates-directory.
const (
	tlsSecret      = "my-tls"
	upstreamSecret = "upstream-ca"
)

// metricsAddr is where every agent serves Prometheus metrics, inside
// its host's netns.
const metricsAddr = "127.0.0.1:9962"

// markerHeader carries a unique value per request so the test finds the
// request app2 received among all the others.
const markerHeader = "X-Nori-Test"

// proxyEnv is issue 5's world: h1 (nerdctl: app1, app3) and h2 (Podman:
// app2 and a second app1) on one etcd, every agent with its own
// certificates directory, app2's recording servers and a monitor on h2.
type proxyEnv struct {
	*policyEnv
	certDirs map[string]string // host name → --certificates-directory
	pki      *proxyPKI
	app2     *appServer
	mon      *lineLog // nori monitor --type drop --type l7 -o json on h2
	seq      atomic.Int64
}

// newProxyEnv builds the hosts and containers, writes my-tls everywhere
// and starts app2's servers. Nothing is imported yet.
func newProxyEnv(t *testing.T) *proxyEnv {
	t.Helper()
	harness.Require(t, "nerdctl", "podman", "busybox-image", "nori-binaries", "etcd", "curl", "nsenter")
	start := time.Now()
	e := &proxyEnv{
		policyEnv: &policyEnv{sw: harness.NewSwitch(t), h: map[string]*harness.Host{}, agents: map[string]*harness.Agent{}, c: map[string]*peer{}},
		certDirs:  map[string]string{},
	}
	names := []string{"h1", "h2"}
	for _, n := range names {
		e.h[n] = e.sw.AddHost(t, n)
	}
	e.etcd = e.sw.StartEtcd(t)
	for _, n := range names {
		// Made before the agent starts, so it is removed after the
		// agent stopped (cleanups run last in, first out).
		e.certDirs[n] = t.TempDir()
		e.agents[n] = e.h[n].StartAgent(t, e.agentArgs(n)...)
	}
	h1, h2 := e.h["h1"], e.h["h2"]
	h1.StartContainerd(t)
	harness.LoadImage(t, "nerdctl", h1)
	harness.LoadImage(t, "podman", h2)
	for _, c := range []struct {
		h              *harness.Host
		runtime, label string
	}{
		{h1, "nerdctl", "app1"}, {h1, "nerdctl", "app3"},
		{h2, "podman", "app2"}, {h2, "podman", "app1"},
	} {
		e.runIdle(t, c.h, c.runtime, c.label)
	}
	e.waitIdentities(t)

	app2 := e.ctr(t, "app2@h2")
	e.pki = newProxyPKI(t, app2.ip)
	e.writeSecret(t, tlsSecret, map[string][]byte{"tls.crt": e.pki.read(t, e.pki.server.Cert), "tls.key": e.pki.read(t, e.pki.server.Key)})
	e.app2 = startAppServer(t, app2, e.pki.upstreamPair(t))
	e.mon = startLineLog(t, h2, "--type", "drop", "--type", "l7", "-o", "json")
	t.Logf("proxy environment ready in %s: app1@h1 %s, app3@h1 %s, app2@h2 %s, app1@h2 %s", time.Since(start).Round(100*time.Millisecond),
		e.ctr(t, "app1@h1").ip, e.ctr(t, "app3@h1").ip, app2.ip, e.ctr(t, "app1@h2").ip)
	return e
}

// runIdle starts a container labelled name=label that only sleeps: the
// servers in app2 are the test's own, listening in its netns.
func (e *proxyEnv) runIdle(t *testing.T, h *harness.Host, runtime, label string) {
	t.Helper()
	name := label
	args := []string{"-l", "name=" + label, "-l", "suite=proxy", harness.BusyboxImage, "sleep", "1000000"}
	var pid string
	if runtime == "nerdctl" {
		h.MustNerdctl(t, append([]string{"run", "-d", "--name", name, "--net", "nori"}, args...)...)
		pid = strings.TrimSpace(h.MustNerdctl(t, "inspect", "-f", "{{.State.Pid}}", name))
	} else {
		h.MustPodman(t, append([]string{"run", "-d", "--name", name, "--network", "nori"}, args...)...)
		pid = strings.TrimSpace(h.MustPodman(t, "inspect", "-f", "{{.State.Pid}}", name))
	}
	p := &peer{
		name: label + "@" + h.Name, ns: "/proc/" + pid + "/ns/net", ip: containerIP(t, h, runtime, name),
		host: h, label: label, ctrName: name, runtime: runtime,
	}
	e.c[p.name] = p
}

// subtest is the start of every subtest: the agents must be alive, and a
// failure prints what app2 saw, the monitor and the agents' logs.
func (e *proxyEnv) subtest(t *testing.T) {
	t.Helper()
	e.agentsAlive(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("state after the failure:\n%s", e.diag())
		}
	})
}

// diag describes what the servers in app2 received, the last monitor
// events on h2 and the proxy-related and last lines of both agents' logs.
func (e *proxyEnv) diag() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- app2's servers: %s\n", e.app2.summary())
	fmt.Fprintf(&b, "--- nori monitor --type drop --type l7 on h2, last lines:\n%s\n", e.mon.tail(12))
	for _, n := range []string{"h2", "h1"} {
		lines := strings.Split(strings.TrimRight(e.agents[n].Log(), "\n"), "\n")
		var rel []string
		for _, l := range lines {
			if relevantLogRE.MatchString(l) {
				rel = append(rel, l)
			}
		}
		fmt.Fprintf(&b, "--- agent log on %s: proxy/TLS/warning lines (last 12 of %d, repeats folded):\n%s\n", n, len(rel), strings.Join(lastN(fold(rel), 12), "\n"))
		fmt.Fprintf(&b, "--- agent log on %s: last lines (repeats folded):\n%s\n", n, strings.Join(lastN(fold(lines), 6), "\n"))
	}
	return b.String()
}

// relevantLogRE picks the agent's log lines about the proxy and
// everything that went wrong (slog's text format).
var relevantLogRE = regexp.MustCompile(`(?i)subsys=proxy|msg="[^"]*(proxy|tls|certif|redirect)[^"]*"|level=(warn|error)`)

// fold collapses runs of log lines that differ only in their time= field
// (an error retried in a loop) into the last one with a count.
func fold(lines []string) []string {
	var out []string
	prev, n := "", 0
	flush := func(last string) {
		if n > 1 {
			last += fmt.Sprintf("   [this line %d times in a row]", n)
		}
		out = append(out, last)
	}
	var last string
	for _, l := range lines {
		key := logTimeRE.ReplaceAllString(l, "")
		if n > 0 && key == prev {
			n++
			last = l
			continue
		}
		if n > 0 {
			flush(last)
		}
		prev, last, n = key, l, 1
	}
	if n > 0 {
		flush(last)
	}
	return out
}

var logTimeRE = regexp.MustCompile(`^time=\S+ `)

func lastN(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// marker returns a value for markerHeader unique in this run.
func (e *proxyEnv) marker(what string) string {
	return fmt.Sprintf("%s-%d", what, e.seq.Add(1))
}

// policyTLS is the seed's rule with other toPorts elements (JSON), under
// the same label, so `import --replace` swaps one variant for another.
func policyTLS(description string, toPorts ...string) string {
	return fmt.Sprintf(`[{"labels":[{"key":"name","value":"app2-tls"}],"description":%q,`+
		`"endpointSelector":{"matchLabels":{"name":"app2"}},`+
		`"ingress":[{"fromEndpoints":[{"matchLabels":{"name":"app1"}}],"toPorts":[%s]}]}]`,
		description, strings.Join(toPorts, ","))
}

// seedPorts is the toPorts element of the seed's rule.
const seedPorts = `{"ports":[{"port":"443","protocol":"TCP"}],"terminatingTLS":{"secret":{"name":"my-tls"}}}`

// applyVariant imports rules on h1 with --replace, waits until h2's agent
// has the revision, and restores the seed's rule when the subtest ends.
func (e *proxyEnv) applyVariant(t *testing.T, rules string) {
	t.Helper()
	t.Cleanup(func() { e.restoreSeed(t) })
	rev := e.importJSON(t, e.h["h1"], rules, "--replace")
	e.waitRevision(t, e.h["h2"], rev)
}

// restoreSeed imports conf/examples/tls-termination.json again.
func (e *proxyEnv) restoreSeed(t *testing.T) {
	t.Helper()
	rev := e.importPolicy(t, e.h["h1"], examplePolicy("tls-termination.json"), nil, "--replace")
	e.waitRevision(t, e.h["h2"], rev)
}

// waitRevision waits until h's agent reports policy revision rev or later.
func (e *proxyEnv) waitRevision(t *testing.T, h *harness.Host, rev uint64) {
	t.Helper()
	waitFor(t, policyDeadline, fmt.Sprintf("policy revision %d on %s", rev, h.Name), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := h.Client().Status(ctx)
		if err != nil {
			return err
		}
		if st.PolicyRevision < rev {
			return fmt.Errorf("%s reports revision %d", h.Name, st.PolicyRevision)
		}
		return nil
	})
}

// eventually polls cond until it returns nil; after timeout the test fails
// with what was expected and cond's last answer.
func (e *proxyEnv) eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	start := time.Now()
	for {
		err := cond()
		if err == nil {
			t.Logf("%s: true after %s", what, time.Since(start).Round(10*time.Millisecond))
			return
		}
		if time.Since(start) > timeout {
			t.Fatalf("want: %s; still not so after %s, last: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// reachTCP only connects from ns to addr (app2's servers do not echo).
func reachTCP(ns, addr string, timeout time.Duration) (harness.Reach, error) {
	c, err := harness.DialTCP(ns, addr, timeout)
	if err == nil {
		c.Close()
		return harness.Open, nil
	}
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return harness.Refused, err
	case errors.As(err, &ne) && ne.Timeout():
		return harness.Blocked, err
	}
	return harness.Failed, err
}

// curlResult is one curl run from a container's netns.
type curlResult struct {
	exit    int // 0: an HTTP answer came (any status)
	status  int
	version string // HTTP version curl used: 1.1, 2
	body    string
	stderr  string
}

func (r curlResult) ok() bool { return r.exit == 0 && r.status == http.StatusOK }

func (r curlResult) String() string {
	if r.exit != 0 {
		return fmt.Sprintf("curl failed with exit %d: %s", r.exit, strings.TrimSpace(r.stderr))
	}
	return fmt.Sprintf("HTTP/%s %d, body %q", r.version, r.status, r.body)
}

// curlFrom runs the host's curl inside from's netns (nsenter --net) with
// the marker header and args; the URL is among args.
func curlFrom(t *testing.T, from *peer, marker string, args ...string) curlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), curlMax+10*time.Second)
	defer cancel()
	full := append([]string{"--net=" + from.ns, "curl", "-sS",
		"--connect-timeout", strconv.Itoa(int(curlConnect / time.Second)), "--max-time", strconv.Itoa(int(curlMax / time.Second)),
		"-H", markerHeader + ": " + marker, "-w", "\n%{http_code} %{http_version}"}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := curlResult{stderr: stderr.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run curl in %s's netns: %v", from, err)
	}
	out := stdout.String()
	i := strings.LastIndex(out, "\n")
	if i < 0 {
		if r.exit == 0 {
			t.Fatalf("curl printed no status line: %q", out)
		}
		return r
	}
	r.body = out[:i]
	f := strings.Fields(out[i+1:])
	if len(f) == 2 {
		r.status, _ = strconv.Atoi(f[0])
		r.version = f[1]
	}
	return r
}

// appURL is http(s)://<ip>[:port]/path for a peer.
func appURL(scheme string, to *peer, port int, path string) string {
	if (scheme == "https" && port == 443) || (scheme == "http" && port == 80) {
		return scheme + "://" + to.ip + path
	}
	return scheme + "://" + hostPort(to.ip, port) + path
}

// goResult is one request of a Go client dialling from a container.
type goResult struct {
	status int
	body   string
	reused bool   // went over a connection a previous request opened
	serial string // of the certificate the server presented
	cn     string
	err    error
}

func (r goResult) String() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return fmt.Sprintf("HTTP %d, connection reused %v, server certificate %q serial %s, body %q", r.status, r.reused, r.cn, r.serial, r.body)
}

// goClient returns an HTTP/1.1 client whose connections start in from's
// netns and that verifies the server against the test CA (by IP).
func (e *proxyEnv) goClient(t *testing.T, from *peer, keepAlive bool) *http.Client {
	t.Helper()
	tr := &http.Transport{
		DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
			return harness.DialTCP(from.ns, addr, curlConnect)
		},
		TLSClientConfig:       &tls.Config{RootCAs: e.pki.ca.Pool()},
		DisableKeepAlives:     !keepAlive,
		ResponseHeaderTimeout: curlMax,
		MaxIdleConnsPerHost:   1,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: curlMax + time.Second}
}

func goGet(c *http.Client, rawURL, marker string) goResult {
	var r goResult
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { r.reused = i.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, rawURL, nil)
	if err != nil {
		r.err = err
		return r
	}
	req.Header.Set(markerHeader, marker)
	resp, err := c.Do(req)
	if err != nil {
		r.err = err
		return r
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	r.status, r.body, r.err = resp.StatusCode, string(body), err
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		r.serial = resp.TLS.PeerCertificates[0].SerialNumber.String()
		r.cn = resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	return r
}

// seenRequest is one request a server in app2 answered.
type seenRequest struct {
	Port   int
	Method string
	URI    string
	Host   string
	Proto  string
	Header http.Header
	TLS    bool // arrived over TLS (only app2's own TLS server has any)
	Remote string
}

func (r seenRequest) String() string {
	return fmt.Sprintf("port %d %s %s %s tls=%v from %s x-forwarded-proto=%q x-request-id=%q %s=%q",
		r.Port, r.Method, r.URI, r.Proto, r.TLS, r.Remote, r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Request-Id"),
		markerHeader, r.Header.Get(markerHeader))
}

// appServer is app2: HTTP servers the test runs in app2's netns that
// record every request. On the plain ports it also counts connections
// whose first byte starts a TLS record: HTTPS that reached app2 without
// the proxy (the redirect did not happen).
type appServer struct {
	mu      sync.Mutex
	reqs    []seenRequest
	conns   map[int]int
	hellos  map[int]int
	errLogs []string
}

func startAppServer(t *testing.T, p *peer, upstream tls.Certificate) *appServer {
	t.Helper()
	s := &appServer{conns: map[int]int{}, hellos: map[int]int{}}
	for _, port := range []int{tlsPort, plainPort, upstreamPort} {
		ln, err := harness.ListenTCP(p.ns, fmt.Sprintf("0.0.0.0:%d", port))
		if err != nil {
			t.Fatalf("listen on %d in %s's netns: %v", port, p, err)
		}
		var l net.Listener = &sniffListener{Listener: ln, port: port, s: s}
		srv := &http.Server{
			Handler:           s.handler(port),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          log.New(errLog{s: s, port: port}, "", 0),
		}
		if port == upstreamPort {
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{upstream}, MinVersion: tls.VersionTLS12}
			l = tls.NewListener(l, srv.TLSConfig)
		}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { _ = srv.Close() })
	}
	return s
}

func (s *appServer) handler(port int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, seenRequest{
			Port: port, Method: r.Method, URI: r.RequestURI, Host: r.Host, Proto: r.Proto,
			Header: r.Header.Clone(), TLS: r.TLS != nil, Remote: r.RemoteAddr,
		})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "app2 port %d: %s %s\n", port, r.Method, r.RequestURI)
	})
}

// find returns the request that carried marker.
func (s *appServer) find(marker string) (seenRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.reqs {
		if r.Header.Get(markerHeader) == marker {
			return r, true
		}
	}
	return seenRequest{}, false
}

// tlsHellos is how many connections on a plain port began with TLS.
func (s *appServer) tlsHellos(port int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hellos[port]
}

func (s *appServer) errorsOn(port int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	prefix := fmt.Sprintf("port %d: ", port)
	for _, l := range s.errLogs {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// notRedirected explains a failed HTTPS request to app2:443 when TLS
// arrived at app2's plain listener itself.
func (s *appServer) notRedirected(before int) string {
	if n := s.tlsHellos(tlsPort); n > before {
		return fmt.Sprintf("; app2's plain listener on %d received %d TLS ClientHello(s) itself: the connection was not redirected to the agent's proxy", tlsPort, n-before)
	}
	return ""
}

func (s *appServer) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "connections per port %v, TLS ClientHellos on plain ports %v, %d requests", s.conns, s.hellos, len(s.reqs))
	for _, r := range lastN(reqStrings(s.reqs), 6) {
		fmt.Fprintf(&b, "\n    %s", r)
	}
	for _, l := range lastN(s.errLogs, 4) {
		fmt.Fprintf(&b, "\n    server error: %s", l)
	}
	return b.String()
}

func reqStrings(rs []seenRequest) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

// errLog collects a server's error log (TLS handshake errors and such).
type errLog struct {
	s    *appServer
	port int
}

func (l errLog) Write(p []byte) (int, error) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	l.s.errLogs = append(l.s.errLogs, fmt.Sprintf("port %d: %s", l.port, strings.TrimSpace(string(p))))
	return len(p), nil
}

type sniffListener struct {
	net.Listener
	port int
	s    *appServer
}

func (l *sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.mu.Lock()
	l.s.conns[l.port]++
	l.s.mu.Unlock()
	return &sniffConn{Conn: c, l: l}, nil
}

// sniffConn looks at the first byte read: 0x16 is a TLS handshake record.
type sniffConn struct {
	net.Conn
	l    *sniffListener
	once sync.Once
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.l.port != upstreamPort {
		c.once.Do(func() {
			if p[0] == 0x16 {
				c.l.s.mu.Lock()
				c.l.s.hellos[c.l.port]++
				c.l.s.mu.Unlock()
			}
		})
	}
	return n, err
}

// proxyPKI is the test's certificates: a CA, app2's server certificate
// (for the proxy's my-tls), app2's own upstream certificate, a client
// certificate, and a second CA with a client certificate of its own.
type proxyPKI struct {
	dir                 string
	app2IP              net.IP
	ca, otherCA         *kvstoretest.CA
	server, upstream    kvstoretest.Pair
	client, otherClient kvstoretest.Pair
}

func newProxyPKI(t *testing.T, app2IP string) *proxyPKI {
	t.Helper()
	p := &proxyPKI{dir: t.TempDir(), app2IP: net.ParseIP(app2IP)}
	p.ca = kvstoretest.NewCA(t, p.dir, "proxy-ca")
	p.otherCA = kvstoretest.NewCA(t, p.dir, "other-ca")
	p.server = p.ca.IssueCert(t, p.dir, "app2", x509.ExtKeyUsageServerAuth, p.app2IP)
	p.upstream = p.ca.IssueCert(t, p.dir, "app2-upstream", x509.ExtKeyUsageServerAuth, p.app2IP)
	p.client = p.ca.IssueCert(t, p.dir, "app1-client", x509.ExtKeyUsageClientAuth)
	p.otherClient = p.otherCA.IssueCert(t, p.dir, "app1-other-client", x509.ExtKeyUsageClientAuth)
	return p
}

func (p *proxyPKI) read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (p *proxyPKI) upstreamPair(t *testing.T) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(p.upstream.Cert, p.upstream.Key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serial returns the serial number of the PEM certificate in file.
func (p *proxyPKI) serial(t *testing.T, file string) string {
	t.Helper()
	blk, _ := pem.Decode(p.read(t, file))
	if blk == nil {
		t.Fatalf("%s holds no PEM block", file)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

// writeSecret writes files into <certificates-directory>/<secret>/ of
// every host, each through a temporary file and a rename, as a renewal
// tool does, so the agent never reads half a file.
func (e *proxyEnv) writeSecret(t *testing.T, secret string, files map[string][]byte) {
	t.Helper()
	dirs := make([]string, 0, len(e.certDirs))
	for _, dir := range e.certDirs {
		dirs = append(dirs, dir)
	}
	writeSecretIn(t, dirs, secret, files)
}

// writeSecretIn writes files into <dir>/<secret>/ of each certificates
// directory, as writeSecret does.
func writeSecretIn(t *testing.T, certDirs []string, secret string, files map[string][]byte) {
	t.Helper()
	for _, dir := range certDirs {
		d := filepath.Join(dir, secret)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		for name, data := range files {
			tmp := filepath.Join(d, "."+name+".tmp")
			if err := os.WriteFile(tmp, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(d, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// removeSecretFile removes one file of a secret on every host.
func (e *proxyEnv) removeSecretFile(t *testing.T, secret, name string) {
	t.Helper()
	for _, dir := range e.certDirs {
		if err := os.Remove(filepath.Join(dir, secret, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Error(err)
		}
	}
}

// lineLog keeps every line of a running `nori monitor -o json`.
type lineLog struct {
	mu    sync.Mutex
	lines []string
	m     *monitor
}

func startLineLog(t *testing.T, h *harness.Host, args ...string) *lineLog {
	t.Helper()
	l := &lineLog{m: startMonitor(t, h, args...)}
	go func() {
		for {
			select {
			case line := <-l.m.lines:
				l.add(line)
			case <-l.m.done:
				for {
					select {
					case line := <-l.m.lines:
						l.add(line)
					default:
						return
					}
				}
			}
		}
	}()
	return l
}

func (l *lineLog) add(line string) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
}

// mark returns the position of the next line, for wait.
func (l *lineLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

func (l *lineLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.Join(lastN(l.lines, n), "\n")
	if l.m.exited() {
		s += "\n(nori monitor exited: " + strings.TrimSpace(l.m.stderr.String()) + ")"
	}
	return s
}

// wait looks at the lines from position from on, until one decodes to an
// event match accepts or timeout passes.
func (l *lineLog) wait(from int, timeout time.Duration, match func(api.MonitorEvent) bool) (api.MonitorEvent, string, bool) {
	for deadline := time.Now().Add(timeout); ; {
		l.mu.Lock()
		lines := append([]string(nil), l.lines[from:]...)
		l.mu.Unlock()
		for _, line := range lines {
			if ev, err := decodeEvent(line); err == nil && match(ev) {
				return ev, line, true
			}
		}
		if time.Now().After(deadline) {
			return api.MonitorEvent{}, "", false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// since returns the lines from position from on.
func (l *lineLog) since(from int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines[from:]...)
}

// proxyStatusRE is issue 5's line of `nori status`.
var proxyStatusRE = regexp.MustCompile(`(?m)^Proxy Status:\s+OK, (\d+) redirects active`)

// agentArgs are the flags of host n's agent.
func (e *proxyEnv) agentArgs(n string) []string {
	return []string{"--kvstore", "etcd", "--kvstore-opt", "etcd.address=" + e.etcd.Address(),
		"--certificates-directory", e.certDirs[n], "--prometheus-serve-addr", metricsAddr}
}
