// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package testpki makes throw-away certificate authorities and
// certificates for tests: the kvstore's TLS client certificates, the
// harness's etcd, and the TLS proxy's secrets.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// CA signs the certificates Issue makes.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// PEM is Cert, and KeyPEM its key, PEM-encoded.
	PEM, KeyPEM []byte
}

// Leaf is an issued certificate and its key, PEM-encoded.
type Leaf struct {
	Cert         *x509.Certificate
	CertPEM, Key []byte
}

// Options say what an issued certificate is valid for; 127.0.0.1 is
// always included.
type Options struct {
	DNSNames []string
	IPs      []net.IP
	// Usages default to server and client authentication.
	Usages []x509.ExtKeyUsage
}

// NewCA returns a self-signed CA valid from an hour ago for a day.
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	cert, key, certPEM, keyPEM := create(t, cn, nil, Options{})
	return &CA{Cert: cert, Key: key, PEM: certPEM, KeyPEM: keyPEM}
}

// Issue returns a certificate for cn signed by ca.
func (ca *CA) Issue(t testing.TB, cn string, o Options) Leaf {
	t.Helper()
	cert, _, certPEM, keyPEM := create(t, cn, ca, o)
	return Leaf{Cert: cert, CertPEM: certPEM, Key: keyPEM}
}

// Pool returns a pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

func create(t testing.TB, cn string, ca *CA, o Options) (*x509.Certificate, *ecdsa.PrivateKey, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		DNSNames:              o.DNSNames,
		IPAddresses:           append([]net.IP{net.IPv4(127, 0, 0, 1)}, o.IPs...),
		BasicConstraintsValid: true,
	}
	parent, signer := tmpl, key
	if ca == nil {
		tmpl.IsCA = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = o.Usages
		if len(tmpl.ExtKeyUsage) == 0 {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		}
		parent, signer = ca.Cert, ca.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatalf("issue certificate for %s: %v", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
