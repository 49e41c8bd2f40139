// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nori-net/nori/tests/harness"
)

// TLS-terminating proxy benchmark (issue 5): HTTPS requests/s and latency
// from a client container to a server container whose plain-HTTP backend
// sits behind Nori's terminating proxy (the policy's terminatingTLS on
// 443), beside nginx terminating TLS in front of the same backend in the
// server's netns (the anchor), and the backend without TLS (the limit).
const (
	proxySecret     = "bench-tls"
	proxyServerName = "bench-server"
	proxyClientName = "bench-client"
	// proxyNoriPort is where the backend listens in plain HTTP and where
	// the policy makes Nori terminate TLS in front of it.
	proxyNoriPort = "443"
	// proxyNginxPort is nginx's TLS listener in the server's netns.
	proxyNginxPort = "8443"
	// proxyLimitPort is the backend again, plain HTTP with no proxy.
	proxyLimitPort = "8080"

	proxyRounds      = 5
	proxySeconds     = 5
	proxyWarmup      = time.Second
	proxyConcurrency = 16
	// proxyCurves is what the client offers for the key exchange, by Go
	// name. Go's default puts the post-quantum X25519MLKEM768 first, which
	// a Go server (Nori) takes and Debian's nginx (OpenSSL 3.0) cannot,
	// so both would not do the same work; X25519 alone is what they both
	// speak. The table shows what each one negotiated.
	proxyCurves = "X25519"
	// proxyAnswerTimeout is how long Nori's proxy gets to answer once the
	// policy is enforced.
	proxyAnswerTimeout = 15 * time.Second
)

// proxyAgentArgs are the flags the section's agent gets besides the
// harness's own; the certificates directory is added to them.
var proxyAgentArgs []string

// proxyPolicy is the section's policy: TLS terminated by Nori on 443,
// nginx's port and the limit's port allowed at L4.
const proxyPolicy = `[{"labels":[{"key":"name","value":"` + proxySecret + `"}],
  "endpointSelector":{"matchLabels":{"name":"` + proxyServerName + `"}},
  "ingress":[{"fromEndpoints":[{"matchLabels":{"name":"` + proxyClientName + `"}}],
    "toPorts":[{"ports":[{"port":"` + proxyNoriPort + `","protocol":"TCP"}],"terminatingTLS":{"secret":{"name":"` + proxySecret + `"}}},
               {"ports":[{"port":"` + proxyNginxPort + `","protocol":"TCP"},{"port":"` + proxyLimitPort + `","protocol":"TCP"}]}]}]}]
`

// proxyRig is what the section measures: the host, both containers and
// the variants between them.
type proxyRig struct {
	h              *harness.Host
	client, server benchCtr
	vs             []proxyVariant
	// procs lists, per variant kind, the processes doing the TLS work
	// (the agent, nginx's master and workers), whose CPU time each run
	// reports.
	procs map[string]func() []int
}

// proxy is the whole section.
func (b *bench) proxy() {
	b.t.Helper()
	b.section("TLS-terminating proxy: setup (a host of its own, for --certificates-directory; a server and a client container; backend and nginx in the server's netns)")
	r := b.proxySetup()
	deletePolicy := b.proxyImport(r)
	b.proxyAnswers(r)
	b.checkInterrupted()

	b.section(fmt.Sprintf("TLS-terminating proxy: HTTPS GET / (64-byte body), %d connections, %d s (+%s warm-up) per run, %d rounds, variants rotated per round", proxyConcurrency, proxySeconds, proxyWarmup, proxyRounds))
	fmt.Fprintf(b.out, "commands: %s\n          %s\n          %s\n",
		inNetns("SERVER_NETNS", b.proxyBackendArgv()...).line(),
		inNetns("SERVER_NETNS", "nginx", "-e", "stderr", "-c", "NGINX_CONF", "-g", "daemon off;").line(),
		inNetns("CLIENT_NETNS", b.proxyLoadArgv("URL", "keepalive|newconn")...).line())
	res := b.proxyRounds(r, proxyRounds)
	b.proxyTable(r.vs, res)
	deletePolicy()
}

// proxySetup makes the host and containers, the certificate, and starts
// the backend and nginx in the server's netns (stopped on cleanup).
func (b *bench) proxySetup() proxyRig {
	b.t.Helper()
	harness.Require(b.t, "nginx", "nerdctl", "busybox-image")
	var r proxyRig
	var certDir string
	var agentPID int
	r.h, certDir, agentPID = b.proxyHost()
	r.client = b.benchContainer(r.h, proxyClientName)
	r.server = b.benchContainer(r.h, proxyServerName)
	b.waitIdentities(r.h, []string{r.client.ip, r.server.ip}, 30*time.Second)
	r.vs = proxyVariants(r.server.ip)

	secretDir := filepath.Join(certDir, proxySecret)
	crt, key := filepath.Join(secretDir, "tls.crt"), filepath.Join(secretDir, "tls.key")
	inNetns("", b.tool("https"), "cert", "-cert", crt, "-key", key, "-host", r.server.ip).mustOutput(b)
	fmt.Fprintf(b.out, "certificate: ECDSA P-256, self-signed for %s, in %s (tls.crt, tls.key), served by both Nori and nginx\n", r.server.ip, secretDir)

	stopBackend, err := inNetns(r.server.ns, b.proxyBackendArgv()...).server(b.ctx, "ready")
	if err != nil {
		b.t.Fatalf("start backend: %v", err)
	}
	b.t.Cleanup(stopBackend)
	stopNginx, nginxPID := b.startNginx(r.server.ns, crt, key)
	b.t.Cleanup(stopNginx)
	r.procs = map[string]func() []int{
		proxyNori:  func() []int { return []int{agentPID} },
		proxyNginx: func() []int { return append(childPIDs(nginxPID), nginxPID) },
	}

	// Before the policy, 443 is the backend itself in plain HTTP.
	direct := b.proxyGet(r.client, "http://"+r.server.ip+":"+proxyNoriPort+"/")
	if direct.Server != httpsBackendServer {
		b.t.Fatalf("plain HTTP to %s:%s before the policy: answered by %q, want the backend", r.server.ip, proxyNoriPort, direct.Server)
	}
	return r
}

func (b *bench) proxyBackendArgv() []string {
	return []string{b.tool("https"), "backend", "-listen", ":" + proxyNoriPort, "-listen", ":" + proxyLimitPort}
}

// proxyImport imports the policy, waits until it is enforced and returns
// what deletes it again (also registered as a cleanup).
func (b *bench) proxyImport(r proxyRig) func() {
	b.t.Helper()
	b.importRules(r.h, []byte(proxyPolicy))
	deleted := false
	deletePolicy := func() {
		if deleted {
			return
		}
		deleted = true
		// Not b.ctx: this also runs after Ctrl-C.
		out, err := inNetns("", filepath.Join(harness.BinDir(b.t), "nori"), "--socket", r.h.Socket, "policy", "delete", "--all").output(context.Background())
		if err != nil {
			b.t.Errorf("delete the proxy policy: %v", err)
			return
		}
		fmt.Fprintf(b.out, "policy deleted: %s\n", strings.TrimSpace(string(out)))
	}
	b.t.Cleanup(deletePolicy)
	start := time.Now()
	b.waitReach(r.client.ns, r.server.ip+":"+polProbePort, harness.Blocked, polEnforceTimeout)
	fmt.Fprintf(b.out, "policy imported and enforced (probe port %s blocked) in %s:\n%s", polProbePort, time.Since(start).Round(10*time.Millisecond), proxyPolicy)
	return deletePolicy
}

// proxyAnswers makes one request per kind on a new connection, the
// anchors first so that a failing Nori still leaves them checked.
func (b *bench) proxyAnswers(r proxyRig) {
	b.t.Helper()
	for _, kind := range []string{proxyLimit, proxyNginx, proxyNori} {
		v := r.vs[slices.IndexFunc(r.vs, func(v proxyVariant) bool { return v.kind == kind })]
		var p httpsProbe
		if kind == proxyNori {
			p = b.waitNoriAnswers(r.h, r.client, v)
		} else {
			p = b.proxyGet(r.client, v.url)
		}
		fmt.Fprintf(b.out, "%-5s %s answers: %d, %d bytes, Server %q, TLS %s\n", kind, v.url, p.Status, p.Bytes, p.Server, p.TLS)
	}
}

// proxyHost makes the section's host: its agent reads secrets from a
// directory of the host's own, which the harness does not pass.
func (b *bench) proxyHost() (*harness.Host, string, int) {
	b.t.Helper()
	h := harness.NewSwitch(b.t).AddHost(b.t, "tls")
	certDir := filepath.Join(h.Dir, "certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		b.t.Fatalf("create certificates directory: %v", err)
	}
	args := append([]string{"--certificates-directory", certDir}, proxyAgentArgs...)
	agent := h.StartAgent(b.t, args...)
	fmt.Fprintf(b.out, "host %s: netns %s, nori-agent %s\n", h, h.NetnsName, strings.Join(append(h.AgentArgs(), args...), " "))
	h.StartContainerd(b.t)
	harness.LoadImage(b.t, "nerdctl", h)
	return h, certDir, agent.PID()
}

// waitNoriAnswers retries a request through Nori's proxy until it answers
// with TLS from the backend, or fails the benchmark saying why.
func (b *bench) waitNoriAnswers(h *harness.Host, client benchCtr, v proxyVariant) httpsProbe {
	b.t.Helper()
	deadline := time.Now().Add(proxyAnswerTimeout)
	for {
		b.checkInterrupted()
		p, err := b.httpsGet(client, v.url)
		if err == nil && p.Server == httpsBackendServer {
			return p
		}
		if err == nil {
			err = fmt.Errorf("answered by %q, not the backend", p.Server)
		}
		if time.Now().After(deadline) {
			status, _ := inNetns("", filepath.Join(harness.BinDir(b.t), "nori"), "--socket", h.Socket, "status").output(b.ctx)
			b.t.Fatalf("Nori proxy did not answer: %s from %s, for %s after the policy was enforced: %v\nnori status:\n%s",
				v.url, proxyClientName, proxyAnswerTimeout, err, status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
