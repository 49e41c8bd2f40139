// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/nori-net/nori/agent/policy"
)

// ServerTLS builds the server side configuration of a terminatingTLS
// port. The returned config carries only GetConfigForClient, so every
// handshake reads the current certificate from the store (reload without
// restarting the listener). With serverNames set, a ClientHello for any
// other name is refused with a handshake alert. Client certificates are
// required when tc names a TrustedCA, or, with impliesMTLS (Cilium ≤1.15
// behaviour), when the secret folder merely holds a ca.crt.
func ServerTLS(store *CertStore, tc *policy.TLSContext, serverNames []string, impliesMTLS bool) (*tls.Config, error) {
	if tc == nil || tc.Secret == nil || tc.Secret.Name == "" {
		return nil, errors.New("build server tls config: terminatingTLS without secret")
	}
	secret := tc.Secret.Name
	names := make(map[string]bool, len(serverNames))
	for _, n := range serverNames {
		names[strings.ToLower(strings.TrimSuffix(n, "."))] = true
	}

	base := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
	}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if len(names) > 0 && !names[strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))] {
			return nil, fmt.Errorf("server name %q not allowed on this port", hello.ServerName)
		}
		cert, err := store.Get(secret, tc.Certificate, tc.PrivateKey)
		if err != nil {
			return nil, err
		}
		caFile := serverCAFile(store, tc, impliesMTLS)
		c := &tls.Config{
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
			Certificates: []tls.Certificate{*cert},
		}
		if caFile != "" {
			pool, err := store.CA(secret, caFile)
			if err != nil {
				return nil, err
			}
			c.ClientCAs = pool
			c.ClientAuth = tls.RequireAndVerifyClientCert
		}
		return c, nil
	}
	return base, nil
}

// serverCAFile is the CA that client certificates must chain to, ""
// when none are required. Looked up per handshake, so a ca.crt added
// under --tls-ca-implies-mtls takes effect like a renewed certificate.
func serverCAFile(store *CertStore, tc *policy.TLSContext, impliesMTLS bool) string {
	if tc.TrustedCA != "" {
		return tc.TrustedCA
	}
	if impliesMTLS && store.Has(tc.Secret.Name, DefaultCAFile) {
		return DefaultCAFile
	}
	return ""
}

// checkServerTLS loads what a terminating port needs now, so that a
// missing or broken secret is reported rather than met by each client.
func checkServerTLS(store *CertStore, tc *policy.TLSContext, impliesMTLS bool) error {
	if _, err := store.Get(tc.Secret.Name, tc.Certificate, tc.PrivateKey); err != nil {
		return err
	}
	if ca := serverCAFile(store, tc, impliesMTLS); ca != "" {
		if _, err := store.CA(tc.Secret.Name, ca); err != nil {
			return err
		}
	}
	return nil
}

// ClientTLS builds the configuration for originating TLS towards the
// original destination: the upstream is verified against the secret's CA
// (TrustedCA, default ca.crt) under serverName, the original host. When
// the secret also holds a key pair, it is offered as client certificate.
func ClientTLS(store *CertStore, tc *policy.TLSContext, serverName string) (*tls.Config, error) {
	if tc == nil || tc.Secret == nil || tc.Secret.Name == "" {
		return nil, errors.New("build client tls config: originatingTLS without secret")
	}
	secret := tc.Secret.Name
	pool, err := store.CA(secret, tc.TrustedCA)
	if err != nil {
		return nil, fmt.Errorf("build client tls config: %w", err)
	}
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    pool,
		ServerName: serverName,
		NextProtos: []string{"http/1.1"},
	}
	certFile, keyFile := tc.Certificate, tc.PrivateKey
	if certFile == "" {
		certFile = DefaultCertFile
	}
	if keyFile == "" {
		keyFile = DefaultKeyFile
	}
	if store.Has(secret, certFile) && store.Has(secret, keyFile) {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return store.Get(secret, certFile, keyFile)
		}
	}
	return c, nil
}
