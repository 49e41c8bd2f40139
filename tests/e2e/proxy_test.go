// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build e2e

package e2e

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/tests/harness"
)

// TestProxy is issue 5's acceptance: the seed's TLS termination. app2 on
// h2 (Podman) serves plain HTTP on 443; the seed's policy
// (conf/examples/tls-termination.json, imported on h1) makes the agent on
// h2 terminate app1's HTTPS with <certificates-directory>/my-tls, so
// `curl --insecure https://APP2/` from app1 on h1 (nerdctl) succeeds and
// app2 sees a plain GET / with x-forwarded-proto: https and an
// x-request-id. Then: the same from a client on app2's host, certificate
// reload keeping open connections, a plain port of the same endpoint left
// alone, mTLS with trustedCA, HTTP rules, and originatingTLS.
//
// app2's servers are the test's own HTTP servers listening in app2's
// netns; they record every request and notice HTTPS that reached them
// directly (not redirected to the proxy).
func TestProxy(t *testing.T) {
	e := newProxyEnv(t)
	if !t.Run("baseline without policy", e.testProxyBaseline) {
		t.FailNow() // nothing else means anything without a working network
	}
	if !t.Run("seed policy imported", e.testTLSImport) {
		t.FailNow()
	}
	t.Run("seed https cross-host", e.testTLSSeed)
	t.Run("seed https same-host", e.testTLSSameHost)
	t.Run("certificate reload", e.testTLSReload)
	t.Run("non-TLS port unaffected", e.testTLSPlainPort)
	t.Run("mTLS with trustedCA", e.testTLSMutual)
	t.Run("http rules", e.testTLSHTTPRules)
	t.Run("originatingTLS", e.testTLSOriginating)
	t.Run("secret written after the policy", e.testTLSLateSecret)
	t.Run("egress http rules keep the client's identity", e.testEgressHTTP)
	t.Run("prometheus metrics", e.testProxyMetrics)
	t.Run("agent killed and restarted", func(st *testing.T) { e.testProxyAgentRestart(t, st) })
}

// testProxyAgentRestart: while h2's agent is dead (SIGKILL), a new HTTPS
// connection to app2:443 fails closed (the listener in app2's netns died
// with the agent; the pinned sk_lookup program still claims the flow) and
// never reaches app2's plain listener, while the plain port (allowed at
// L4) keeps working. The restarted agent serves the seed's request again.
// The new agent belongs to the whole test (parent), so that it outlives
// this subtest's cleanups.
func (e *proxyEnv) testProxyAgentRestart(parent, t *testing.T) {
	e.subtest(t)
	app1, app2 := e.ctr(t, "app1@h1"), e.ctr(t, "app2@h2")
	e.applyVariant(t, `[{"labels":[{"key":"name","value":"app2-tls"}],
  "endpointSelector":{"matchLabels":{"name":"app2"}},
  "ingress":[{"fromEndpoints":[{"matchLabels":{"name":"app1"}}],"toPorts":[`+seedPorts+`,{"ports":[{"port":"8080","protocol":"TCP"}]}]}]}]`)
	e.seedRequest(t, app1)
	e.agents["h2"].Kill(t)
	hellos := e.app2.tlsHellos(tlsPort)
	m := e.marker("dead-agent")
	if r := curlFrom(t, app1, m, "--insecure", appURL("https", app2, tlsPort, "/")); r.exit == 0 {
		t.Errorf("curl https://%s/ from app1@h1 with h2's agent dead: want a failure, got %s", app2.ip, r)
	}
	if n := e.app2.tlsHellos(tlsPort); n > hellos {
		t.Errorf("with h2's agent dead, %d HTTPS connection(s) reached app2's plain listener on 443 directly", n-hellos)
	}
	if got, err := reachTCP(app1.ns, hostPort(app2.ip, plainPort), probeTimeout); got != harness.Open {
		t.Errorf("app1@h1 → app2:%d with h2's agent dead: want open (the datapath stays), got %s (%v)", plainPort, got, err)
	}
	e.agents["h2"] = e.h["h2"].StartAgent(parent, e.agentArgs("h2")...)
	seen, _, _ := e.seedRequest(t, app1)
	t.Logf("after the restart app2 received: %s", seen)
}

// testProxyBaseline: without policy, plain HTTP reaches all of app2's
// servers from every client, unchanged; HTTPS to 443 fails (app2 speaks
// plain HTTP there) and the sniffer sees its ClientHello, the sign later
// checks use to tell "not redirected" apart.
func (e *proxyEnv) testProxyBaseline(t *testing.T) {
	e.subtest(t)
	app1, app3, app2, app1b := e.ctr(t, "app1@h1"), e.ctr(t, "app3@h1"), e.ctr(t, "app2@h2"), e.ctr(t, "app1@h2")
	// The overlay may still be converging.
	e.eventually(t, 60*time.Second, "app1@h1 connects to app2@h2:8080 across hosts", func() error {
		if got, err := reachTCP(app1.ns, hostPort(app2.ip, plainPort), time.Second); got != harness.Open {
			return fmt.Errorf("%s (%v)", got, err)
		}
		return nil
	})
	for _, c := range []struct {
		from *peer
		port int
	}{{app1, plainPort}, {app3, tlsPort}, {app1b, tlsPort}, {app1, tlsPort}} {
		m := e.marker("baseline")
		r := curlFrom(t, c.from, m, appURL("http", app2, c.port, "/"))
		if !r.ok() {
			t.Fatalf("without policy, curl http://%s:%d/ from %s: want 200 from app2's plain server, got %s", app2.ip, c.port, c.from, r)
		}
		seen, ok := e.app2.find(m)
		if !ok {
			t.Fatalf("without policy, %s → app2:%d answered %s but app2 recorded no request with %s %s", c.from, c.port, r, markerHeader, m)
		}
		if src, _, _ := net.SplitHostPort(seen.Remote); src != c.from.ip || seen.Header.Get("X-Forwarded-Proto") != "" || seen.Header.Get("X-Request-Id") != "" {
			t.Errorf("without policy, app2 should see %s's request unchanged from %s, without x-forwarded-proto or x-request-id; it saw %s", c.from, c.from.ip, seen)
		}
	}
	before := e.app2.tlsHellos(tlsPort)
	if r := curlFrom(t, app1, e.marker("baseline-https"), "--insecure", appURL("https", app2, tlsPort, "/")); r.exit == 0 {
		t.Errorf("without policy, HTTPS to app2's plain listener on 443: want a TLS failure, got %s", r)
	}
	if e.app2.tlsHellos(tlsPort) == before {
		t.Fatalf("without policy, HTTPS app1 → app2:443 reached app2's plain listener, but the test's sniffer counted no TLS ClientHello (%s)", e.app2.summary())
	}
	// app2's own TLS server (for originatingTLS) works and is trusted
	// under the test CA by IP.
	m := e.marker("baseline-upstream")
	if g := goGet(e.goClient(t, app1, false), appURL("https", app2, upstreamPort, "/"), m); g.err != nil || g.status != http.StatusOK {
		t.Fatalf("without policy, HTTPS app1 → app2's own TLS server on %d, verified with the test CA: want 200, got %s", upstreamPort, g)
	}
	if seen, ok := e.app2.find(m); !ok || !seen.TLS {
		t.Fatalf("app2's TLS server on %d: want the request recorded as TLS, got %v (found %v)", upstreamPort, seen, ok)
	}
	for _, h := range []string{"h1", "h2"} {
		st := noriCLI(t, e.h[h], "status")
		line := "no Proxy Status line yet"
		if i := strings.Index(st, "Proxy Status:"); i >= 0 {
			line, _, _ = strings.Cut(st[i:], "\n")
		}
		t.Logf("nori status on %s before any policy: %s", h, line)
	}
}

// testTLSImport: the seed's file is accepted unchanged, reaches h2 through
// etcd, selects app2, and its L3/L4 part keeps app3 and other ports out.
// None of this needs the proxy.
func (e *proxyEnv) testTLSImport(t *testing.T) {
	e.subtest(t)
	app1, app3, app2 := e.ctr(t, "app1@h1"), e.ctr(t, "app3@h1"), e.ctr(t, "app2@h2")
	start := time.Now()
	rev := e.importPolicy(t, e.h["h1"], examplePolicy("tls-termination.json"), nil)
	e.waitRevision(t, e.h["h2"], rev)
	t.Logf("conf/examples/tls-termination.json imported on h1 as revision %d, on h2 after %s", rev, time.Since(start).Round(10*time.Millisecond))
	for _, h := range []string{"h1", "h2"} {
		out := noriCLI(t, e.h[h], "policy", "get", "name=app2-tls")
		for _, want := range []string{"terminatingTLS", tlsSecret, "443"} {
			if !strings.Contains(out, want) {
				t.Errorf("nori policy get name=app2-tls on %s: want the imported rule with %q, got:\n%s", h, want, out)
			}
		}
	}
	waitFor(t, policyDeadline, "app2@h2 enforces ingress policy", func() error {
		ep, err := e.endpoint(t, app2)
		if err != nil {
			return err
		}
		if !ep.PolicyIngress {
			return fmt.Errorf("endpoint %d (%s): ingress enforcement off", ep.ID, ep.Name)
		}
		return nil
	})
	for _, c := range []struct {
		from *peer
		port int
	}{{app3, tlsPort}, {app1, plainPort}, {app3, plainPort}} {
		e.eventually(t, proxyDeadline, fmt.Sprintf("%s → app2@h2:%d is dropped by the policy (blocked or refused)", c.from, c.port), func() error {
			if got, err := reachTCP(c.from.ns, hostPort(app2.ip, c.port), probeTimeout); got == harness.Open {
				return fmt.Errorf("%s (%v)", got, err)
			}
			return nil
		})
	}
}

// testTLSSeed: the seed's scenario from app1 on the other host, the l7
// event, nori status, the redirect entry, a client-given x-request-id
// over HTTP/1.1, and app3 kept out.
func (e *proxyEnv) testTLSSeed(t *testing.T) {
	e.subtest(t)
	app1, app3, app2 := e.ctr(t, "app1@h1"), e.ctr(t, "app3@h1"), e.ctr(t, "app2@h2")
	seen, r, mark := e.seedRequest(t, app1)
	if r.version != "2" {
		t.Errorf("curl https://%s/ from app1: want HTTP/2 negotiated with the proxy by ALPN (curl's default), got HTTP/%s", app2.ip, r.version)
	}
	t.Logf("app2 received: %s", seen)

	// The l7 event on h2, the proxy's host.
	rid := seen.Header.Get("X-Request-Id")
	ev, line, ok := e.mon.wait(mark, 5*time.Second, func(ev api.MonitorEvent) bool {
		return ev.Type == api.MonitorL7 && ev.HTTP != nil && ev.HTTP.Method == http.MethodGet && ev.HTTP.Path == "/" &&
			(ev.HTTP.RequestID == rid || ev.HTTP.RequestID == "")
	})
	if !ok {
		t.Errorf("nori monitor --type l7 on h2: want an l7 event GET / (request id %s) for the request, got none in 5 s; lines since the request:\n%s",
			rid, strings.Join(e.mon.since(mark), "\n"))
	} else {
		id1, id2 := e.mustEndpoint(t, app1).Identity, e.mustEndpoint(t, app2).Identity
		if ev.HTTP.Status != http.StatusOK || ev.SrcIdentity != id1 || ev.DstIdentity != id2 {
			t.Errorf("l7 event: want status 200, src identity %d (app1), dst identity %d (app2), got %s", id1, id2, line)
		}
		t.Logf("l7 event: %s", line)
	}

	// nori status on h2 shows the proxy with the redirect.
	st := noriCLI(t, e.h["h2"], "status")
	if m := proxyStatusRE.FindStringSubmatch(st); m == nil {
		t.Errorf("nori status on h2: want a line \"Proxy Status: OK, N redirects active\", got:\n%s", st)
	} else if n, _ := strconv.Atoi(m[1]); n < 1 {
		t.Errorf("nori status on h2: want at least 1 redirect active (443 of app2), got %q", m[0])
	}
	if ps := e.proxyStatus(t, "h2"); ps == nil || ps.State != "OK" || ps.Redirects < 1 || ps.Forwarded < 1 || len(ps.Ports) == 0 ||
		(ok && !slices.Contains(ps.Ports, ev.ProxyPort)) {
		t.Errorf("nori status -o json on h2: want proxy state OK, at least 1 redirect and 1 forwarded request, listener ports including the l7 event's %d; got %+v", ev.ProxyPort, ps)
	}

	// The datapath's entry for app1 → app2:443 redirects to a proxy port.
	ep2, id1 := e.mustEndpoint(t, app2), e.mustEndpoint(t, app1).Identity
	var entries []api.BPFPolicyEntry
	mustJSON(t, noriCLI(t, e.h["h2"], "bpf", "policy", "list", strconv.Itoa(int(ep2.ID)), "-o", "json"), &entries)
	if !slices.ContainsFunc(entries, func(en api.BPFPolicyEntry) bool {
		return en.Direction == "ingress" && en.Identity == id1 && en.Port == tlsPort && en.Verdict == "allow" && en.Redirect && en.ProxyPort != 0
	}) {
		t.Errorf("nori bpf policy list %d on h2: want an ingress allow entry for app1 (identity %d) on 443 with redirect and a proxy port, got %+v", ep2.ID, id1, entries)
	}

	// A client's own x-request-id is kept; HTTP/1.1 works too.
	m := e.marker("seed-h1")
	given := "client-id-" + m
	r = curlFrom(t, app1, m, "--insecure", "--http1.1", "-H", "X-Request-Id: "+given, appURL("https", app2, tlsPort, "/"))
	if !r.ok() || r.version != "1.1" {
		t.Errorf("curl --http1.1 https://%s/ from app1: want 200 over HTTP/1.1, got %s", app2.ip, r)
	} else if got, ok := e.app2.find(m); !ok || got.Header.Get("X-Request-Id") != given || got.Header.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("with the client's x-request-id %q, app2 should get it unchanged and x-forwarded-proto https; it got %v (found %v)", given, got, ok)
	}

	// app3 is not in the rule: dropped before any proxy.
	m = e.marker("seed-app3")
	if r := curlFrom(t, app3, m, "--insecure", appURL("https", app2, tlsPort, "/")); r.exit == 0 {
		t.Errorf("curl https://%s/ from app3: want no answer (policy), got %s", app2.ip, r)
	}
	if got, ok := e.app2.find(m); ok {
		t.Errorf("app3's request reached app2: %s", got)
	}
	if got, err := reachTCP(app3.ns, hostPort(app2.ip, tlsPort), probeTimeout); got == harness.Open {
		t.Errorf("app3 → app2:443: want blocked or refused by the policy, the connection was accepted (%v)", err)
	}
}

// testTLSSameHost: the seed's scenario from an app1 on app2's own host.
func (e *proxyEnv) testTLSSameHost(t *testing.T) {
	e.subtest(t)
	seen, _, _ := e.seedRequest(t, e.ctr(t, "app1@h2"))
	t.Logf("app2 received: %s", seen)
}

// seedRequest polls `curl --insecure https://APP2/` from `from` until it
// answers 200 and checks what app2 received: a plain GET / with
// x-forwarded-proto https and an x-request-id. It returns that request,
// curl's result, and the monitor position before the request.
func (e *proxyEnv) seedRequest(t *testing.T, from *peer) (seenRequest, curlResult, int) {
	t.Helper()
	app2 := e.ctr(t, "app2@h2")
	var r curlResult
	var m string
	var mark int
	hellos := e.app2.tlsHellos(tlsPort)
	e.eventually(t, proxyDeadline, fmt.Sprintf("curl --insecure https://%s/ from %s answers 200 through the agent's proxy", app2.ip, from), func() error {
		m, mark = e.marker("seed"), e.mon.mark()
		r = curlFrom(t, from, m, "--insecure", appURL("https", app2, tlsPort, "/"))
		if !r.ok() {
			return fmt.Errorf("%s%s", r, e.app2.notRedirected(hellos))
		}
		return nil
	})
	seen, ok := e.app2.find(m)
	if !ok {
		t.Fatalf("curl from %s answered %s, but app2's server on 443 recorded no request with %s %s (%s)", from, r, markerHeader, m, e.app2.summary())
	}
	if n := e.app2.tlsHellos(tlsPort); n > hellos {
		t.Errorf("while the seed's policy was in force, %d HTTPS connection(s) reached app2's plain listener on 443 directly instead of the proxy", n-hellos)
	}
	var bad []string
	if seen.Port != tlsPort || seen.Method != http.MethodGet || seen.URI != "/" || seen.TLS {
		bad = append(bad, "want a plain GET / on port 443")
	}
	if got := seen.Header.Get("X-Forwarded-Proto"); got != "https" {
		bad = append(bad, fmt.Sprintf("want x-forwarded-proto https, got %q", got))
	}
	if seen.Header.Get("X-Request-Id") == "" {
		bad = append(bad, "want a non-empty x-request-id")
	}
	if !strings.Contains(r.body, "app2 port 443: GET /") {
		bad = append(bad, fmt.Sprintf("want app2's answer as body, curl got %q", r.body))
	}
	// The agent serves app2's ingress redirects from a listener inside
	// app2's own netns, so the upstream connection comes from app2's own
	// address over its loopback (a node listener would dial from the node).
	if host, _, err := net.SplitHostPort(seen.Remote); err != nil || host != app2.ip {
		bad = append(bad, fmt.Sprintf("want the upstream connection from app2's own address %s (the proxy listener in app2's netns), got %q", app2.ip, seen.Remote))
	}
	if len(bad) > 0 {
		t.Errorf("HTTPS from %s through the proxy: %s; app2 received: %s", from, strings.Join(bad, "; "), seen)
	}
	return seen, r, mark
}

// testTLSReload: a renewed my-tls (written by rename) is served to new
// connections within seconds; an HTTP/1.1 keep-alive connection opened
// before keeps working with the old certificate.
func (e *proxyEnv) testTLSReload(t *testing.T) {
	e.subtest(t)
	app1, app2 := e.ctr(t, "app1@h1"), e.ctr(t, "app2@h2")
	u := appURL("https", app2, tlsPort, "/")
	oldSerial := e.pki.serial(t, e.pki.server.Cert)
	keep := e.goClient(t, app1, true)
	var first goResult
	e.eventually(t, proxyDeadline, "a keep-alive Go client in app1@h1 gets 200 from https://app2/ verified with the test CA", func() error {
		first = goGet(keep, u, e.marker("reload-keepalive"))
		if first.err != nil || first.status != http.StatusOK {
			return errors.New(first.String())
		}
		return nil
	})
	if first.serial != oldSerial {
		t.Fatalf("before the renewal the proxy served certificate serial %s (%s), want my-tls's %s", first.serial, first.cn, oldSerial)
	}

	renewed := e.pki.ca.IssueCert(t, e.pki.dir, "app2-renewed", x509.ExtKeyUsageServerAuth, e.pki.app2IP)
	newSerial := e.pki.serial(t, renewed.Cert)
	e.writeSecret(t, tlsSecret, map[string][]byte{"tls.key": e.pki.read(t, renewed.Key), "tls.crt": e.pki.read(t, renewed.Cert)})
	e.pki.server = renewed
	fresh := e.goClient(t, app1, false)
	e.eventually(t, 10*time.Second, fmt.Sprintf("a new connection gets the renewed certificate (serial %s, CN nori-test app2-renewed)", newSerial), func() error {
		r := goGet(fresh, u, e.marker("reload-new"))
		if r.err != nil || r.status != http.StatusOK {
			return errors.New(r.String())
		}
		if r.serial != newSerial {
			return fmt.Errorf("served serial %s (%s)", r.serial, r.cn)
		}
		return nil
	})
	r := goGet(keep, u, e.marker("reload-old-conn"))
	switch {
	case r.err != nil || r.status != http.StatusOK:
		t.Errorf("keep-alive connection opened before the renewal: want 200, got %s", r)
	case !r.reused:
		t.Errorf("the keep-alive connection opened before the renewal was closed (the request needed a new one): a reload must not drop connections; got %s", r)
	case r.serial != oldSerial:
		t.Errorf("keep-alive connection: want the old certificate %s still, got %s", oldSerial, r)
	}
}

// testTLSPlainPort: 8080 of the same endpoint, allowed as plain L4 next
// to the terminated 443, reaches app2 unchanged (no proxy on the way).
func (e *proxyEnv) testTLSPlainPort(t *testing.T) {
	e.subtest(t)
	app1, app3, app2 := e.ctr(t, "app1@h1"), e.ctr(t, "app3@h1"), e.ctr(t, "app2@h2")
	e.applyVariant(t, policyTLS("The seed's rule plus plain 8080.", seedPorts, `{"ports":[{"port":"8080","protocol":"TCP"}]}`))
	var m string
	var r curlResult
	e.eventually(t, proxyDeadline, fmt.Sprintf("plain curl http://%s:8080/ from app1@h1 answers 200", app2.ip), func() error {
		m = e.marker("plain")
		if r = curlFrom(t, app1, m, appURL("http", app2, plainPort, "/")); !r.ok() {
			return errors.New(r.String())
		}
		return nil
	})
	seen, ok := e.app2.find(m)
	if !ok {
		t.Fatalf("plain curl to 8080 answered %s, but app2 recorded no request with %s %s", r, markerHeader, m)
	}
	src, _, _ := net.SplitHostPort(seen.Remote)
	if seen.Port != plainPort || seen.TLS || src != app1.ip || seen.Host != hostPort(app2.ip, plainPort) ||
		seen.Header.Get("X-Forwarded-Proto") != "" || seen.Header.Get("X-Request-Id") != "" ||
		!strings.HasPrefix(seen.Header.Get("User-Agent"), "curl/") {
		t.Errorf("on the non-TLS port app2 should see app1's request unchanged: from %s, Host %s, curl's User-Agent, no x-forwarded-proto, no x-request-id; it saw %s (User-Agent %q)",
			app1.ip, hostPort(app2.ip, plainPort), seen, seen.Header.Get("User-Agent"))
	}
	// The TLS port of the same endpoint still terminates.
	e.seedRequest(t, app1)
	if got, err := reachTCP(app3.ns, hostPort(app2.ip, plainPort), probeTimeout); got == harness.Open {
		t.Errorf("app3 → app2:8080: want blocked or refused (the rule allows app1 only), connected (%v)", err)
	}
}

// testTLSMutual: with trustedCA, a client without a certificate (or with
// one of another CA) is refused and one with a certificate of the CA
// passes.
func (e *proxyEnv) testTLSMutual(t *testing.T) {
	e.subtest(t)
	app1, app2 := e.ctr(t, "app1@h1"), e.ctr(t, "app2@h2")
	e.writeSecret(t, tlsSecret, map[string][]byte{"ca.crt": e.pki.read(t, e.pki.ca.File)})
	t.Cleanup(func() { e.removeSecretFile(t, tlsSecret, "ca.crt") })
	e.applyVariant(t, policyTLS("The seed's rule with client certificates.",
		`{"ports":[{"port":"443","protocol":"TCP"}],"terminatingTLS":{"secret":{"name":"my-tls"},"trustedCA":"ca.crt"}}`))
	u := appURL("https", app2, tlsPort, "/")
	var no, yes curlResult
	var mNo, mYes string
	hellos := e.app2.tlsHellos(tlsPort)
	e.eventually(t, proxyDeadline, "with trustedCA, curl without a client certificate is refused and curl with one from the CA gets 200", func() error {
		mNo, mYes = e.marker("mtls-none"), e.marker("mtls-cert")
		no = curlFrom(t, app1, mNo, "--insecure", u)
		yes = curlFrom(t, app1, mYes, "--insecure", "--cert", e.pki.client.Cert, "--key", e.pki.client.Key, u)
		if no.ok() {
			return fmt.Errorf("without a client certificate: %s", no)
		}
		if !yes.ok() {
			return fmt.Errorf("with a client certificate: %s%s (without one: %s)", yes, e.app2.notRedirected(hellos), no)
		}
		return nil
	})
	t.Logf("without a client certificate: %s", no)
	if got, ok := e.app2.find(mNo); ok {
		t.Errorf("a request without a client certificate reached app2: %s", got)
	}
	if got, ok := e.app2.find(mYes); !ok || got.Header.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("with a client certificate app2 should get the request with x-forwarded-proto https, got %v (found %v)", got, ok)
	}
	m := e.marker("mtls-other-ca")
	if r := curlFrom(t, app1, m, "--insecure", "--cert", e.pki.otherClient.Cert, "--key", e.pki.otherClient.Key, u); r.ok() {
		t.Errorf("with a client certificate of another CA: want refused, got %s", r)
	}
	if got, ok := e.app2.find(m); ok {
		t.Errorf("a request with another CA's client certificate reached app2: %s", got)
	}
}

// testTLSHTTPRules: rules.http on the terminated port: GET /allowed
// passes, anything else gets 403 Access denied and never reaches app2.
func (e *proxyEnv) testTLSHTTPRules(t *testing.T) {
	e.subtest(t)
	app1, app2 := e.ctr(t, "app1@h1"), e.ctr(t, "app2@h2")
	e.applyVariant(t, policyTLS("The seed's rule with an HTTP rule.",
		`{"ports":[{"port":"443","protocol":"TCP"}],"terminatingTLS":{"secret":{"name":"my-tls"}},"rules":{"http":[{"method":"GET","path":"/allowed"}]}}`))
	var allowed, other curlResult
	var mAllowed, mOther string
	mark := e.mon.mark()
	denied := e.proxyStatus(t, "h2")
	hellos := e.app2.tlsHellos(tlsPort)
	e.eventually(t, proxyDeadline, "GET /allowed answers 200 and GET /other 403", func() error {
		mAllowed, mOther = e.marker("http-allowed"), e.marker("http-other")
		other = curlFrom(t, app1, mOther, "--insecure", appURL("https", app2, tlsPort, "/other"))
		allowed = curlFrom(t, app1, mAllowed, "--insecure", appURL("https", app2, tlsPort, "/allowed"))
		if other.exit != 0 || other.status != http.StatusForbidden || !allowed.ok() {
			return fmt.Errorf("/other: %s; /allowed: %s%s", other, allowed, e.app2.notRedirected(hellos))
		}
		return nil
	})
	if strings.TrimSpace(other.body) != "Access denied" {
		t.Errorf("GET /other: want the body \"Access denied\", got %q", other.body)
	}
	if got, ok := e.app2.find(mOther); ok {
		t.Errorf("the denied GET /other reached app2: %s", got)
	}
	if got, ok := e.app2.find(mAllowed); !ok || got.URI != "/allowed" || got.Header.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("GET /allowed: app2 should get it with x-forwarded-proto https, got %v (found %v)", got, ok)
	}
	m := e.marker("http-post")
	if r := curlFrom(t, app1, m, "--insecure", "-X", "POST", "-d", "x", appURL("https", app2, tlsPort, "/allowed")); r.exit != 0 || r.status != http.StatusForbidden {
		t.Errorf("POST /allowed (the rule allows GET only): want 403, got %s", r)
	}
	if got, ok := e.app2.find(m); ok {
		t.Errorf("the denied POST /allowed reached app2: %s", got)
	}
	if after := e.proxyStatus(t, "h2"); denied == nil || after == nil || after.Denied < denied.Denied+2 {
		t.Errorf("nori status -o json on h2: want the proxy's denied count up by at least 2 (GET /other, POST /allowed), before %+v, after %+v", denied, after)
	}
	ev, line, ok := e.mon.wait(mark, 5*time.Second, func(ev api.MonitorEvent) bool {
		return ev.Type == api.MonitorL7 && ev.HTTP != nil && ev.HTTP.Path == "/other" && ev.HTTP.Status == http.StatusForbidden
	})
	if !ok {
		t.Errorf("nori monitor --type l7 on h2: want an l7 event for the denied GET /other with status 403, got none; lines since:\n%s", strings.Join(e.mon.since(mark), "\n"))
	} else if ev.Verdict != "deny" {
		t.Errorf("l7 event of the denied GET /other: want verdict deny, got %s", line)
	}
}

// testTLSOriginating: plain HTTP from app1 to app2:8443; the proxy speaks
// TLS to app2's own TLS server and verifies it with upstream-ca/ca.crt:
// with another CA there it refuses (5xx), with the right one app2 gets
// the request over TLS.
func (e *proxyEnv) testTLSOriginating(t *testing.T) {
	e.subtest(t)
	app1, app2 := e.ctr(t, "app1@h1"), e.ctr(t, "app2@h2")
	e.writeSecret(t, upstreamSecret, map[string][]byte{"ca.crt": e.pki.read(t, e.pki.otherCA.File)})
	e.applyVariant(t, policyTLS("The seed's rule plus originating TLS to app2's 8443.", seedPorts,
		`{"ports":[{"port":"8443","protocol":"TCP"}],"originatingTLS":{"secret":{"name":"upstream-ca"},"trustedCA":"ca.crt"}}`))
	u := appURL("http", app2, upstreamPort, "/")
	errsBefore := len(e.app2.errorsOn(upstreamPort))
	var r curlResult
	var m string
	e.eventually(t, proxyDeadline, "with a CA that did not sign app2's certificate in upstream-ca, plain curl http://app2:8443/ gets a 5xx from the proxy", func() error {
		m = e.marker("orig-wrong-ca")
		r = curlFrom(t, app1, m, u)
		if r.exit == 0 && r.status >= 500 {
			return nil
		}
		hint := ""
		if strings.Contains(r.body, "HTTP request to an HTTPS server") {
			hint = "; app2's TLS server got the plain request itself: not redirected to the proxy"
		}
		return fmt.Errorf("%s%s", r, hint)
	})
	if got, ok := e.app2.find(m); ok {
		t.Errorf("the proxy forwarded to an upstream it cannot verify; app2 got: %s", got)
	}
	t.Logf("app2's TLS server errors with the wrong CA in upstream-ca: %v", e.app2.errorsOn(upstreamPort)[errsBefore:])

	e.writeSecret(t, upstreamSecret, map[string][]byte{"ca.crt": e.pki.read(t, e.pki.ca.File)})
	var seen seenRequest
	e.eventually(t, 10*time.Second, "with app2's CA in upstream-ca, plain curl http://app2:8443/ from app1@h1 gets 200 and app2 receives the request over TLS", func() error {
		m = e.marker("orig")
		if r = curlFrom(t, app1, m, u); !r.ok() {
			return errors.New(r.String())
		}
		var ok bool
		if seen, ok = e.app2.find(m); !ok || !seen.TLS {
			return fmt.Errorf("curl got %s, app2's TLS server: %v (found %v)", r, seen, ok)
		}
		return nil
	})
	if !strings.Contains(r.body, "app2 port 8443: GET /") || seen.Method != http.MethodGet || seen.URI != "/" {
		t.Errorf("originating TLS: want app2's answer to GET / on 8443, curl got %s, app2 saw %s", r, seen)
	}
	t.Logf("app2 received over TLS: %s", seen)
}

// proxyStatus is the proxy part of `nori status -o json` on host h.
func (e *proxyEnv) proxyStatus(t *testing.T, h string) *api.ProxyStatus {
	t.Helper()
	var st api.Status
	mustJSON(t, noriCLI(t, e.h[h], "status", "-o", "json"), &st)
	return st.Proxy
}

// testTLSLateSecret: a policy naming a secret folder that does not exist
// yet fails closed and says so in nori status; once the files are
// written, the port serves without anything restarted or re-imported.
func (e *proxyEnv) testTLSLateSecret(t *testing.T) {
	e.subtest(t)
	app1, app2 := e.ctr(t, "app1@h1"), e.ctr(t, "app2@h2")
	const late = "late-tls"
	e.applyVariant(t, policyTLS("The seed's rule with a secret written later.",
		`{"ports":[{"port":"443","protocol":"TCP"}],"terminatingTLS":{"secret":{"name":"`+late+`"}}}`))
	e.eventually(t, proxyDeadline, "nori status on h2 reports the proxy Failure naming the missing "+late, func() error {
		st := e.proxyStatus(t, "h2")
		if st == nil || st.State != "Failure" || !strings.Contains(st.Message, late) {
			return fmt.Errorf("proxy status %+v", st)
		}
		return nil
	})
	hellos := e.app2.tlsHellos(tlsPort)
	if r := curlFrom(t, app1, e.marker("late-before"), "--insecure", appURL("https", app2, tlsPort, "/")); r.exit == 0 {
		t.Errorf("before %s exists: want the TLS handshake refused, got %s", late, r)
	}
	if e.app2.tlsHellos(tlsPort) != hellos {
		t.Errorf("before %s exists, the HTTPS request reached app2's plain listener: the port must fail closed, not pass", late)
	}
	e.writeSecret(t, late, map[string][]byte{"tls.crt": e.pki.read(t, e.pki.server.Cert), "tls.key": e.pki.read(t, e.pki.server.Key)})
	e.eventually(t, proxyDeadline, "after "+late+" is written, curl --insecure https://app2/ from app1@h1 answers 200", func() error {
		if r := curlFrom(t, app1, e.marker("late-after"), "--insecure", appURL("https", app2, tlsPort, "/")); !r.ok() {
			return errors.New(r.String())
		}
		return nil
	})
	if st := e.proxyStatus(t, "h2"); st == nil || st.State != "OK" {
		t.Errorf("nori status on h2 after the secret was written: want the proxy OK, got %+v", st)
	}
}

// testEgressHTTP: an egress rule of app1 with HTTP rules on app2's plain
// port 8080. The proxy on app1's own host applies it, and its upstream
// connection crosses to h2 carrying app1's identity in the VNI: app2's
// ingress rule, which admits only app1 on 8080, lets it in.
func (e *proxyEnv) testEgressHTTP(t *testing.T) {
	e.subtest(t)
	app1, app1b, app2 := e.ctr(t, "app1@h1"), e.ctr(t, "app1@h2"), e.ctr(t, "app2@h2")
	e.applyVariant(t, `[{"labels":[{"key":"name","value":"app2-tls"}],
  "endpointSelector":{"matchLabels":{"name":"app2"}},
  "ingress":[{"fromEndpoints":[{"matchLabels":{"name":"app1"}}],"toPorts":[`+seedPorts+`,{"ports":[{"port":"8080","protocol":"TCP"}]}]}]},
 {"labels":[{"key":"name","value":"app2-tls"}],
  "endpointSelector":{"matchLabels":{"name":"app1"}},
  "egress":[{"toEndpoints":[{"matchLabels":{"name":"app2"}}],
    "toPorts":[{"ports":[{"port":"8080","protocol":"TCP"}],"rules":{"http":[{"method":"GET","path":"/egress-ok"}]}}]}]}]`)
	for _, c := range []struct {
		from *peer
	}{{app1}, {app1b}} {
		var ok, denied curlResult
		var m string
		e.eventually(t, proxyDeadline, fmt.Sprintf("from %s, GET /egress-ok on app2:8080 answers 200 and GET /other 403", c.from), func() error {
			m = e.marker("egress-ok")
			ok = curlFrom(t, c.from, m, appURL("http", app2, plainPort, "/egress-ok"))
			denied = curlFrom(t, c.from, e.marker("egress-other"), appURL("http", app2, plainPort, "/other"))
			if !ok.ok() || denied.exit != 0 || denied.status != http.StatusForbidden {
				return fmt.Errorf("/egress-ok: %s; /other: %s", ok, denied)
			}
			return nil
		})
		seen, found := e.app2.find(m)
		if !found {
			t.Fatalf("from %s: GET /egress-ok answered %s but app2 has no record of it", c.from, ok)
		}
		// The client's own host proxied it: app2 sees one of that host's
		// addresses (its underlay address, or its router address in its
		// endpoint CIDR when the route goes into the overlay) and an
		// x-forwarded-for naming the client.
		src, _, _ := net.SplitHostPort(seen.Remote)
		srcAddr, _ := netip.ParseAddr(src)
		clientCIDR := netip.PrefixFrom(netip.MustParseAddr(c.from.ip), 24).Masked()
		fromHost := srcAddr == c.from.host.Underlay || (clientCIDR.Contains(srcAddr) && src != c.from.ip)
		if !fromHost || seen.Header.Get("X-Forwarded-For") != c.from.ip {
			t.Errorf("from %s: app2 should see the request from an address of %s (%s or in %s, not the client's) with x-forwarded-for %s, it saw %s",
				c.from, c.from.host.Name, c.from.host.Underlay, clientCIDR, c.from.ip, seen)
		}
	}
	// app1's egress is enforced now: nothing else leaves it.
	if got, _ := reachTCP(app1.ns, hostPort(app2.ip, upstreamPort), probeTimeout); got == harness.Open {
		t.Errorf("app1 → app2:%d is open although app1's egress allows only 8080", upstreamPort)
	}
}

// testProxyMetrics: the agent's Prometheus endpoint counts the proxied
// requests and the datapath's redirects.
func (e *proxyEnv) testProxyMetrics(t *testing.T) {
	e.subtest(t)
	out, err := exec.Command("nsenter", "--net="+e.h["h2"].Netns, "curl", "-sS", "--max-time", "5",
		"http://"+metricsAddr+"/metrics").CombinedOutput()
	if err != nil {
		t.Fatalf("curl http://%s/metrics in h2's netns: %v: %s", metricsAddr, err, out)
	}
	text := string(out)
	for _, want := range []string{
		"# TYPE nori_proxy_requests_total counter",
		`nori_proxy_requests_total{verdict="allow"} `,
		`nori_proxy_requests_total{verdict="deny"} `,
		`nori_datapath_packets_total{reason="redirect-proxy",direction=`,
		"nori_proxy_redirects ",
		// app2's TLS port is served inside app2's netns.
		"nori_proxy_netns_listeners 1",
		"nori_kvstore_connected 1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("h2's /metrics lacks %q:\n%s", want, text)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, `nori_proxy_requests_total{verdict="allow"} `); ok {
			if n, err := strconv.ParseFloat(v, 64); err != nil || n < 1 {
				t.Errorf("nori_proxy_requests_total allow = %q, want at least the requests of the subtests before", v)
			}
		}
	}
}
