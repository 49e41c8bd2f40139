// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package kvstoretest

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/nori-net/nori/agent/internal/testpki"
)

// CA signs the certificates IssueCert makes.
type CA struct {
	*testpki.CA
	File string // PEM of the certificate
}

// Pair names the files of an issued certificate and its key.
type Pair struct{ Cert, Key string }

// NewCA writes dir/<name>.crt and .key, a self-signed CA valid for a day.
func NewCA(t testing.TB, dir, name string) *CA {
	t.Helper()
	ca := testpki.NewCA(t, "nori-test "+name)
	p := writePair(t, dir, name, ca.PEM, ca.KeyPEM)
	return &CA{CA: ca, File: p.Cert}
}

// IssueCert writes dir/<name>.crt and .key signed by ca, for usage
// (server or client auth) and valid for ips (and 127.0.0.1).
func (ca *CA) IssueCert(t testing.TB, dir, name string, usage x509.ExtKeyUsage, ips ...net.IP) Pair {
	t.Helper()
	leaf := ca.Issue(t, "nori-test "+name, testpki.Options{IPs: ips, Usages: []x509.ExtKeyUsage{usage}})
	return writePair(t, dir, name, leaf.CertPEM, leaf.Key)
}

func writePair(t testing.TB, dir, name string, certPEM, keyPEM []byte) Pair {
	t.Helper()
	p := Pair{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}
	if err := os.WriteFile(p.Cert, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
