// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nori-net/nori/agent/kvstore/kvstoretest"
)

// etcdTLS holds the files of an etcd that requires client certificates.
type etcdTLS struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

// StartEtcdTLS is StartEtcd with TLS on the client port and client
// certificates required. ConfigFile then names a Cilium-style etcd.config
// (endpoints, trusted-ca-file, cert-file, key-file) for the agents'
// --kvstore-opt etcd.config=FILE.
func (s *Switch) StartEtcdTLS(t testing.TB) *Etcd {
	t.Helper()
	Require(t, "etcd")
	h := s.addNode(t, "etcd", int(EtcdAddr.As4()[3]), EtcdAddr)
	e := &Etcd{Host: h, DataDir: filepath.Join(h.Dir, "data"), t: t}
	dir := filepath.Join(h.Dir, "pki")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ca := kvstoretest.NewCA(t, dir, "ca")
	server := ca.IssueCert(t, dir, "server", x509.ExtKeyUsageServerAuth, EtcdAddr.AsSlice())
	client := ca.IssueCert(t, dir, "client", x509.ExtKeyUsageClientAuth)
	e.tls = &etcdTLS{
		ca:         ca.File,
		serverCert: server.Cert, serverKey: server.Key,
		clientCert: client.Cert, clientKey: client.Key,
	}
	e.ConfigFile = filepath.Join(dir, "etcd.config")
	cfg := fmt.Sprintf("endpoints:\n- %s\ntrusted-ca-file: %s\ncert-file: %s\nkey-file: %s\n",
		e.url(), e.tls.ca, e.tls.clientCert, e.tls.clientKey)
	if err := os.WriteFile(e.ConfigFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Start(t)
	t.Cleanup(func() { e.Stop(t) })
	return e
}
