// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package kvstore_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/kvstore"
	"github.com/nori-net/nori/agent/kvstore/kvstoretest"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A real etcd (Debian's etcd-server) that requires client certificates,
// reached through a Cilium-style etcd.config file (issue 3).
func TestConnectTLSWithConfigFile(t *testing.T) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatalf("etcd binary not found (apt-get install etcd-server): %v", err)
	}
	dir := t.TempDir()
	ca := kvstoretest.NewCA(t, dir, "ca")
	server := ca.IssueCert(t, dir, "server", x509.ExtKeyUsageServerAuth)
	client := ca.IssueCert(t, dir, "client", x509.ExtKeyUsageClientAuth)
	cport, pport := freePort(t), freePort(t)
	curl := fmt.Sprintf("https://127.0.0.1:%d", cport)
	purl := fmt.Sprintf("http://127.0.0.1:%d", pport)
	cmd := exec.Command(bin, "--name", "tls", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", curl, "--advertise-client-urls", curl,
		"--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
		"--initial-cluster", "tls="+purl,
		"--cert-file", server.Cert, "--key-file", server.Key,
		"--trusted-ca-file", ca.File, "--client-cert-auth", "--logger", "zap", "--log-level", "error")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("etcd stderr:\n%s", stderr.String())
		}
	})

	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("etcd.config", fmt.Sprintf("endpoints:\n- %s\ntrusted-ca-file: %s\ncert-file: %s\nkey-file: %s\n", curl, ca.File, client.Cert, client.Key))
	noCert := write("nocert.config", fmt.Sprintf("endpoints:\n- %s\ntrusted-ca-file: %s\n", curl, ca.File))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := kvstore.Connect(ctx, kvstore.ClientConfig{ConfigFile: good, LeaseTTL: 5 * time.Second, Logger: kvstoretest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.PutWithLease(ctx, "nodes/n1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if kv, found, err := s.Get(ctx, "nodes/n1"); err != nil || !found || kv.Lease == 0 {
		t.Fatalf("get over TLS: %+v %v %v", kv, found, err)
	}

	short, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	if _, err := kvstore.Connect(short, kvstore.ClientConfig{ConfigFile: noCert, Logger: kvstoretest.Logger(t)}); err == nil {
		t.Fatal("connected without a client certificate")
	}
}
