// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Default item names inside a secret folder, as in Kubernetes TLS secrets.
const (
	DefaultCertFile = "tls.crt"
	DefaultKeyFile  = "tls.key"
	DefaultCAFile   = "ca.crt"
)

// CertStore loads certificates and CA bundles from
// <dir>/<secret>/<file> and reloads them when the files change. Every
// lookup does a stat of the files, which is cheap next to a TLS handshake,
// so a renewed certificate is used from the next handshake on while
// connections already established keep theirs.
type CertStore struct {
	dir string
	log *slog.Logger

	mu    sync.Mutex
	certs map[string]*certEntry
	cas   map[string]*caEntry
}

// stamp identifies one version of a file: a rename over the file changes
// the inode, an in-place rewrite changes mtime or size.
type stamp struct {
	mtime time.Time
	size  int64
	ino   uint64
}

type certEntry struct {
	cert, key stamp
	value     *tls.Certificate
}

type caEntry struct {
	ca    stamp
	value *x509.CertPool
}

// NewCertStore returns a store reading secret folders under dir.
func NewCertStore(dir string, logger *slog.Logger) *CertStore {
	if logger == nil {
		logger = slog.Default()
	}
	return &CertStore{dir: dir, log: logger, certs: map[string]*certEntry{}, cas: map[string]*caEntry{}}
}

// Path returns the file name of item file in secret's folder.
func (s *CertStore) Path(secret, file string) string {
	return filepath.Join(s.dir, secret, file)
}

// Has reports whether secret's folder holds file.
func (s *CertStore) Has(secret, file string) bool {
	_, err := os.Stat(s.Path(secret, file))
	return err == nil
}

func statFile(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, fmt.Errorf("stat certificate file: %w", err)
	}
	st := stamp{mtime: fi.ModTime(), size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st, nil
}

// Get returns the key pair of secret (certFile and keyFile default to
// tls.crt and tls.key), reloading it if either file changed. When a
// reload fails (a half-written renewal, say) the previous pair stays in
// use and the error is logged, so a renewal cannot take a port down.
func (s *CertStore) Get(secret, certFile, keyFile string) (*tls.Certificate, error) {
	if secret == "" {
		return nil, errors.New("load certificate: empty secret name")
	}
	if certFile == "" {
		certFile = DefaultCertFile
	}
	if keyFile == "" {
		keyFile = DefaultKeyFile
	}
	certPath, keyPath := s.Path(secret, certFile), s.Path(secret, keyFile)
	key := certPath + "\x00" + keyPath

	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.certs[key]
	cst, err1 := statFile(certPath)
	kst, err2 := statFile(keyPath)
	if err := errors.Join(err1, err2); err != nil {
		return s.keepCert(old, err)
	}
	if old != nil && old.cert == cst && old.key == kst {
		return old.value, nil
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return s.keepCert(old, fmt.Errorf("load key pair %s, %s: %w", certPath, keyPath, err))
	}
	if old != nil {
		s.log.Info("certificate reloaded", "secret", secret, "file", certPath)
	}
	s.certs[key] = &certEntry{cert: cst, key: kst, value: &pair}
	return &pair, nil
}

func (s *CertStore) keepCert(old *certEntry, err error) (*tls.Certificate, error) {
	if old == nil {
		return nil, err
	}
	s.log.Warn("certificate reload failed, keeping the previous one", "err", err)
	return old.value, nil
}

// CA returns the CA pool in caFile (default ca.crt) of secret, reloading
// it when the file changed.
func (s *CertStore) CA(secret, caFile string) (*x509.CertPool, error) {
	if secret == "" {
		return nil, errors.New("load ca: empty secret name")
	}
	if caFile == "" {
		caFile = DefaultCAFile
	}
	path := s.Path(secret, caFile)

	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cas[path]
	st, err := statFile(path)
	if err == nil && old != nil && old.ca == st {
		return old.value, nil
	}
	var pool *x509.CertPool
	if err == nil {
		pool, err = loadPool(path)
	}
	if err != nil {
		if old == nil {
			return nil, err
		}
		s.log.Warn("ca reload failed, keeping the previous one", "file", path, "err", err)
		return old.value, nil
	}
	s.cas[path] = &caEntry{ca: st, value: pool}
	return pool, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ca file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("parse ca file %s: no PEM certificate found", path)
	}
	return pool, nil
}
