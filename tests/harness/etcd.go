// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// EtcdAddr is where StartEtcd's server listens on the underlay.
var EtcdAddr = netip.MustParseAddr("172.30.0.250")

// Etcd is Debian's etcd-server running on its own simulated host of the
// switch, as a cluster store shared by agents on several hosts.
type Etcd struct {
	Host    *Host
	DataDir string
	// ConfigFile is the etcd.config for agents when TLS is on (StartEtcdTLS).
	ConfigFile string
	t          testing.TB
	d          *daemon
	tls        *etcdTLS
}

// StartEtcd adds the host "etcd" (172.30.0.250) to the switch and starts a
// single-member etcd on it; t.Cleanup stops it.
func (s *Switch) StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	Require(t, "etcd")
	h := s.addNode(t, "etcd", int(EtcdAddr.As4()[3]), EtcdAddr)
	e := &Etcd{Host: h, DataDir: filepath.Join(h.Dir, "data"), t: t}
	e.Start(t)
	t.Cleanup(func() { e.Stop(t) })
	return e
}

// Address is the client address agents use (etcd.address=...).
func (e *Etcd) Address() string { return net.JoinHostPort(EtcdAddr.String(), "2379") }

func (e *Etcd) url() string {
	if e.tls != nil {
		return "https://" + e.Address()
	}
	return "http://" + e.Address()
}

// ctlArgs are etcdctl's connection flags.
func (e *Etcd) ctlArgs() []string {
	args := []string{"ETCDCTL_API=3", "etcdctl", "--endpoints=" + e.url()}
	if e.tls != nil {
		args = append(args, "--cacert="+e.tls.ca, "--cert="+e.tls.clientCert, "--key="+e.tls.clientKey)
	}
	return args
}

// Start (re)starts etcd on its data dir and waits until it accepts
// connections.
func (e *Etcd) Start(t testing.TB) {
	t.Helper()
	if e.d != nil && !e.d.exited() {
		t.Fatalf("etcd already running (pid %d)", e.d.pid())
	}
	if err := os.MkdirAll(e.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	client := e.url()
	// The peer URL is the etcd host's loopback: a single member never
	// dials it, and nothing outside the namespace can reach it.
	peer := "http://127.0.0.1:2380"
	args := []string{"--name", "nori-test", "--data-dir", e.DataDir,
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "nori-test=" + peer, "--log-outputs", "stderr"}
	if e.tls != nil {
		args = append(args, "--cert-file", e.tls.serverCert, "--key-file", e.tls.serverKey,
			"--trusted-ca-file", e.tls.ca, "--client-cert-auth")
	}
	d, err := startDaemon(e.Host.Netns, nil, filepath.Join(e.Host.Dir, "etcd.log"), "etcd", args...)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	e.d = d
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if d.exited() {
			t.Fatalf("etcd exited: %v\n%s", d.err, readLog(d.log))
		}
		if _, err := e.Host.Exec(t, "env", append(e.ctlArgs(), "endpoint", "health")...); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("etcd not healthy after 20 s:\n%s", readLog(d.log))
}

// Stop stops etcd (SIGTERM, then SIGKILL after 10 s); its data stays.
func (e *Etcd) Stop(t testing.TB) {
	t.Helper()
	if e.d != nil {
		e.d.stop(syscall.SIGTERM, 10*time.Second)
	}
}

// Ctl runs etcdctl (API v3) against the server.
func (e *Etcd) Ctl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return e.Host.Exec(t, "env", append(e.ctlArgs(), args...)...)
}

func (e *Etcd) String() string { return fmt.Sprintf("etcd(%s)", e.Address()) }
