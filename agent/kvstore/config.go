// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package kvstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"sigs.k8s.io/yaml"
)

// DefaultLeaseTTL is the session lease TTL. A host that goes away vanishes
// from every other host within this time (issue 3), and an agent survives a
// gap of about two thirds of it without etcd before its keys expire; the
// keep-alive runs every TTL/3. Cilium's 15 minutes is made for clusters
// with an operator and thousands of nodes; 15 s suits small clusters where
// a dead host should stop receiving traffic quickly.
const DefaultLeaseTTL = 15 * time.Second

// DefaultClusterName is --cluster-name's default.
const DefaultClusterName = "default"

// ClientConfig configures Connect.
type ClientConfig struct {
	// Endpoints are etcd client URLs or host:port pairs; when empty they
	// come from ConfigFile.
	Endpoints []string
	// ConfigFile is a Cilium-style etcd.config YAML file: endpoints,
	// trusted-ca-file, cert-file, key-file, username, password.
	ConfigFile string
	// ClusterName selects the key prefix nori/v1/<ClusterName>/;
	// DefaultClusterName when empty.
	ClusterName string
	// LeaseTTL of the agent's session lease; DefaultLeaseTTL when zero.
	LeaseTTL time.Duration
	// DialTimeout bounds one connection attempt; 5 s when zero.
	DialTimeout time.Duration
	Logger      *slog.Logger
}

// FileConfig is the content of an etcd.config file, with the field names
// Cilium uses, so the same file serves both.
type FileConfig struct {
	Endpoints     []string `json:"endpoints"`
	TrustedCAFile string   `json:"trusted-ca-file,omitempty"`
	// CAFile is the older spelling of TrustedCAFile.
	CAFile   string `json:"ca-file,omitempty"`
	CertFile string `json:"cert-file,omitempty"`
	KeyFile  string `json:"key-file,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
}

var clusterNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62})$`)

// ValidateClusterName checks a --cluster-name value: it becomes part of
// every key, so it must be short and free of '/'.
func ValidateClusterName(name string) error {
	if !clusterNameRE.MatchString(name) {
		return fmt.Errorf("invalid cluster name %q: use up to 63 lower-case letters, digits, '.', '_' or '-'", name)
	}
	return nil
}

// ReadFileConfig parses an etcd.config file; unknown keys are errors so a
// typo does not silently disable TLS.
func ReadFileConfig(path string) (FileConfig, error) {
	var fc FileConfig
	data, err := os.ReadFile(path)
	if err != nil {
		return fc, fmt.Errorf("read etcd config: %w", err)
	}
	if err := yaml.UnmarshalStrict(data, &fc); err != nil {
		return fc, fmt.Errorf("parse etcd config %s: %w", path, err)
	}
	if fc.TrustedCAFile == "" {
		fc.TrustedCAFile = fc.CAFile
	}
	if (fc.CertFile == "") != (fc.KeyFile == "") {
		return fc, fmt.Errorf("parse etcd config %s: cert-file and key-file must be given together", path)
	}
	return fc, nil
}

// TLS returns the client TLS configuration, or nil when the file names no
// certificates.
func (fc FileConfig) TLS() (*tls.Config, error) {
	if fc.TrustedCAFile == "" && fc.CertFile == "" {
		return nil, nil
	}
	info := transport.TLSInfo{CertFile: fc.CertFile, KeyFile: fc.KeyFile, TrustedCAFile: fc.TrustedCAFile}
	cfg, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load etcd client certificates: %w", err)
	}
	return cfg, nil
}

func (c *ClientConfig) setDefaults() error {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ClusterName == "" {
		c.ClusterName = DefaultClusterName
	}
	if err := ValidateClusterName(c.ClusterName); err != nil {
		return err
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.LeaseTTL < 3*time.Second {
		return fmt.Errorf("kvstore lease TTL %s is below the minimum of 3s", c.LeaseTTL)
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	return nil
}

var errNoEndpoints = errors.New("no etcd endpoints: set etcd.address or endpoints in etcd.config")
