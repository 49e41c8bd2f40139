// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package kvstoretest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA signs the certificates IssueCert makes.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	File string // PEM of Cert
}

// Pair names the files of an issued certificate and its key.
type Pair struct{ Cert, Key string }

// NewCA writes dir/<name>.crt and .key, a self-signed CA valid for a day.
func NewCA(t testing.TB, dir, name string) *CA {
	t.Helper()
	cert, key, p := issue(t, dir, name, nil, 0, nil)
	return &CA{Cert: cert, Key: key, File: p.Cert}
}

// IssueCert writes dir/<name>.crt and .key signed by ca, for usage
// (server or client auth) and valid for ips.
func (ca *CA) IssueCert(t testing.TB, dir, name string, usage x509.ExtKeyUsage, ips ...net.IP) Pair {
	t.Helper()
	_, _, p := issue(t, dir, name, ca, usage, ips)
	return p
}

func issue(t testing.TB, dir, name string, ca *CA, usage x509.ExtKeyUsage, ips []net.IP) (*x509.Certificate, *ecdsa.PrivateKey, Pair) {
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
		IPAddresses:           append([]net.IP{net.ParseIP("127.0.0.1")}, ips...),
		BasicConstraintsValid: true,
	}
	parent, signer := tmpl, key
	if ca == nil {
		tmpl.IsCA = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		parent, signer = ca.Cert, ca.Key
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
	p := Pair{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}
	if err := os.WriteFile(p.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key, p
}
