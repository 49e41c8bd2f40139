// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
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
	ca, caKey := issueCert(t, dir, "ca", nil, nil, 0)
	issueCert(t, dir, "server", ca, caKey, x509.ExtKeyUsageServerAuth)
	issueCert(t, dir, "client", ca, caKey, x509.ExtKeyUsageClientAuth)
	e.tls = &etcdTLS{
		ca:         filepath.Join(dir, "ca.crt"),
		serverCert: filepath.Join(dir, "server.crt"), serverKey: filepath.Join(dir, "server.key"),
		clientCert: filepath.Join(dir, "client.crt"), clientKey: filepath.Join(dir, "client.key"),
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

// issueCert writes name.crt and name.key into dir, signed by ca (a CA
// itself when ca is nil), valid for the etcd host's underlay address.
func issueCert(t testing.TB, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usage x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "nori-test " + name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{EtcdAddr.AsSlice(), net.ParseIP("127.0.0.1")},
		BasicConstraintsValid: true,
	}
	parent, signer := tmpl, key
	if ca == nil {
		tmpl.IsCA = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		parent, signer = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatalf("issue %s certificate: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for file, block := range map[string]*pem.Block{
		name + ".crt": {Type: "CERTIFICATE", Bytes: der},
		name + ".key": {Type: "EC PRIVATE KEY", Bytes: kder},
	} {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key
}
