// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/nori-net/nori/agent/internal/testpki"
)

// testCA is a throw-away certificate authority.
type testCA struct {
	*testpki.CA
	pem []byte
}

func newTestCA(t testing.TB, cn string) *testCA {
	t.Helper()
	ca := testpki.NewCA(t, cn)
	return &testCA{CA: ca, pem: ca.PEM}
}

// issue returns PEM certificate and key for cn, valid for dnsNames and
// 127.0.0.1, usable by servers and clients.
func (ca *testCA) issue(t testing.TB, cn string, dnsNames ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	leaf := ca.Issue(t, cn, testpki.Options{DNSNames: dnsNames})
	return leaf.CertPEM, leaf.Key
}

func (ca *testCA) pool() *x509.CertPool { return ca.Pool() }

func (ca *testCA) keyPair(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	c, k := ca.issue(t, cn, cn)
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// writeSecret writes files into dir/secret, each by rename so a reader
// never sees half a file (as kubelet and cert-manager do).
func writeSecret(t testing.TB, dir, secret string, files map[string][]byte) {
	t.Helper()
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
