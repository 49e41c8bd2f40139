// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package config turns nori-agent's flags, environment and config file
// into one validated Config. Precedence: flag, then environment variable
// NORI_<FLAG_NAME> (dashes become underscores), then the config file, then
// the default. Keeping all three means a systemd unit or a compose file
// stays a couple of lines long.
package config

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Config is everything nori-agent needs to start.
type Config struct {
	NodeName            string
	IPv4Node            netip.Addr // zero: derive from the default route's device
	ClusterName         string
	ClusterID           uint32
	ClusterPoolIPv4CIDR netip.Prefix
	ClusterPoolMaskSize int
	KVStore             string            // "embedded" or "etcd"
	KVStoreOpts         map[string]string // etcd.address, etcd.config
	KVStoreListen       string            // host:port where the embedded store serves clients
	Tunnel              string            // "vxlan" or "disabled"
	TunnelPort          int
	EnablePolicy        string // "default", "always", "never"
	CertificatesDir     string
	TLSCAImpliesMTLS    bool
	StateDir            string
	Socket              string
	BPFRoot             string
	PrometheusAddr      string
	LogLevel            string
	Labels              []string // identity label filter, Cilium-style prefixes
	ContainerdSocket    string
	PodmanPath          string
	MTU                 int // 0: underlay MTU minus tunnel overhead
	ConfigFile          string
}

// KVStore modes.
const (
	KVStoreEmbedded = "embedded"
	KVStoreEtcd     = "etcd"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// Parse reads args (without the program name), the environment and the
// config file named by --config-file (or NORI_CONFIG_FILE).
func Parse(args []string, getenv func(string) string) (*Config, error) {
	fs := flag.NewFlagSet("nori-agent", flag.ContinueOnError)
	hostname, _ := os.Hostname()
	str := map[string]*string{}
	def := func(name, value, usage string) { str[name] = fs.String(name, value, usage) }
	def("node-name", hostname, "name of this node in the cluster")
	def("ipv4-node", "", "underlay IPv4 address of this node (default: address of the default route's device)")
	def("cluster-name", "default", "name of the cluster; prefixes every key in the store")
	def("cluster-id", "0", "numeric cluster ID (0-255)")
	def("cluster-pool-ipv4-cidr", "10.0.0.0/8", "pool the per-node endpoint CIDRs are taken from")
	def("cluster-pool-ipv4-mask-size", "24", "prefix length of each node's endpoint CIDR")
	def("kvstore", KVStoreEmbedded, "cluster store: embedded (etcd inside the agent) or etcd")
	def("kvstore-listen", "127.0.0.1:2379", "where the embedded store serves clients (other nodes too)")
	def("tunnel", "vxlan", "overlay between nodes: vxlan or disabled (native routing)")
	def("tunnel-port", "8472", "UDP port of the VXLAN overlay")
	def("enable-policy", "default", "policy enforcement mode: default, always or never")
	def("certificates-directory", "/var/lib/nori/certs", "where TLS secrets live, one folder per secret")
	def("tls-ca-implies-mtls", "false", "require client certificates when a terminating secret folder merely holds ca.crt (Cilium <=1.15 behaviour)")
	def("state-dir", "/var/lib/nori", "agent state: endpoints, IPAM, embedded store data")
	def("socket", "/run/nori/nori.sock", "unix socket of the agent API")
	def("bpf-root", "/sys/fs/bpf", "bpffs mount under which programs and maps are pinned (in <bpf-root>/nori)")
	def("prometheus-serve-addr", "", "serve Prometheus metrics on this address (off when empty)")
	def("log-level", "info", "debug, info, warn or error")
	def("containerd-socket", "/run/containerd/containerd.sock", "containerd API socket, used to read nerdctl containers' labels")
	def("podman-path", "podman", "podman binary, used to read Podman containers' labels")
	def("mtu", "0", "MTU of endpoint interfaces (0: underlay MTU minus tunnel overhead)")
	def("config-file", "", "file of flag=value lines (or flag: value); flags and environment win")
	var kvOpts, labels multiFlag
	fs.Var(&kvOpts, "kvstore-opt", "store option key=value (etcd.address=H:P[,H:P], etcd.config=FILE); repeatable")
	fs.Var(&labels, "labels", "identity label filter: prefixes to keep, !prefix to drop; repeatable or comma-separated")

	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	envName := func(name string) string {
		return "NORI_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	}
	// Environment next.
	for name, p := range str {
		if set[name] {
			continue
		}
		if v := getenv(envName(name)); v != "" {
			*p = v
			set[name] = true
		}
	}
	if !set["kvstore-opt"] {
		if v := getenv(envName("kvstore-opt")); v != "" {
			kvOpts = splitList(v)
			set["kvstore-opt"] = true
		}
	}
	if !set["labels"] {
		if v := getenv(envName("labels")); v != "" {
			labels = splitList(v)
			set["labels"] = true
		}
	}
	// Config file last.
	if path := *str["config-file"]; path != "" {
		fileVals, err := readConfigFile(path)
		if err != nil {
			return nil, err
		}
		for name, v := range fileVals {
			switch {
			case set[name]:
			case name == "kvstore-opt":
				kvOpts = splitList(v)
			case name == "labels":
				labels = splitList(v)
			case str[name] != nil:
				*str[name] = v
			default:
				return nil, fmt.Errorf("config file %s: unknown setting %q", path, name)
			}
		}
	}
	return build(str, kvOpts, labels)
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// readConfigFile reads "name=value" or "name: value" lines; # starts a
// comment. Names are flag names without dashes in front.
func readConfigFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open config file: %w", err)
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			return nil, fmt.Errorf("config file %s line %d: want name=value", path, n)
		}
		name := strings.TrimLeft(strings.TrimSpace(line[:i]), "-")
		val := strings.Trim(strings.TrimSpace(line[i+1:]), `"'`)
		if prev, ok := vals[name]; ok && (name == "kvstore-opt" || name == "labels") {
			val = prev + "," + val
		}
		vals[name] = val
	}
	return vals, sc.Err()
}

func build(s map[string]*string, kvOpts, labels []string) (*Config, error) {
	var errs []error
	bad := func(flagName, format string, a ...any) {
		errs = append(errs, fmt.Errorf("--%s: "+format, append([]any{flagName}, a...)...))
	}
	atoi := func(name string, min, max int) int {
		n, err := strconv.Atoi(*s[name])
		if err != nil || n < min || n > max {
			bad(name, "%q is not a number from %d to %d", *s[name], min, max)
		}
		return n
	}
	c := &Config{
		NodeName:         *s["node-name"],
		ClusterName:      *s["cluster-name"],
		KVStore:          *s["kvstore"],
		KVStoreOpts:      map[string]string{},
		KVStoreListen:    *s["kvstore-listen"],
		Tunnel:           *s["tunnel"],
		EnablePolicy:     *s["enable-policy"],
		CertificatesDir:  *s["certificates-directory"],
		StateDir:         *s["state-dir"],
		Socket:           *s["socket"],
		BPFRoot:          *s["bpf-root"],
		PrometheusAddr:   *s["prometheus-serve-addr"],
		LogLevel:         *s["log-level"],
		Labels:           labels,
		ContainerdSocket: *s["containerd-socket"],
		PodmanPath:       *s["podman-path"],
		ConfigFile:       *s["config-file"],
	}
	if c.NodeName == "" {
		bad("node-name", "must not be empty")
	}
	if c.ClusterName == "" || strings.ContainsAny(c.ClusterName, "/ ") {
		bad("cluster-name", "%q must be non-empty without '/' or spaces", c.ClusterName)
	}
	c.ClusterID = uint32(atoi("cluster-id", 0, 255))
	if v := *s["ipv4-node"]; v != "" {
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			bad("ipv4-node", "%q is not an IPv4 address", v)
		}
		c.IPv4Node = a
	}
	p, err := netip.ParsePrefix(*s["cluster-pool-ipv4-cidr"])
	if err != nil || !p.Addr().Is4() {
		bad("cluster-pool-ipv4-cidr", "%q is not an IPv4 CIDR", *s["cluster-pool-ipv4-cidr"])
	}
	c.ClusterPoolIPv4CIDR = p.Masked()
	c.ClusterPoolMaskSize = atoi("cluster-pool-ipv4-mask-size", 1, 30)
	if p.IsValid() && c.ClusterPoolMaskSize < p.Bits() {
		bad("cluster-pool-ipv4-mask-size", "%d is shorter than the pool's /%d", c.ClusterPoolMaskSize, p.Bits())
	}
	switch c.KVStore {
	case KVStoreEmbedded, KVStoreEtcd:
	default:
		bad("kvstore", "%q must be embedded or etcd", c.KVStore)
	}
	for _, o := range kvOpts {
		k, v, ok := strings.Cut(o, "=")
		if !ok || v == "" {
			bad("kvstore-opt", "%q must be key=value", o)
			continue
		}
		switch k {
		case "etcd.address", "etcd.config":
			c.KVStoreOpts[k] = v
		default:
			bad("kvstore-opt", "unknown option %q (known: etcd.address, etcd.config)", k)
		}
	}
	if c.KVStore == KVStoreEtcd && c.KVStoreOpts["etcd.address"] == "" && c.KVStoreOpts["etcd.config"] == "" {
		bad("kvstore-opt", "--kvstore=etcd needs etcd.address=H:P or etcd.config=FILE")
	}
	switch c.Tunnel {
	case "vxlan", "disabled":
	default:
		bad("tunnel", "%q must be vxlan or disabled", c.Tunnel)
	}
	c.TunnelPort = atoi("tunnel-port", 1, 65535)
	switch c.EnablePolicy {
	case "default", "always", "never":
	default:
		bad("enable-policy", "%q must be default, always or never", c.EnablePolicy)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q must be debug, info, warn or error", c.LogLevel)
	}
	mtls, err := strconv.ParseBool(*s["tls-ca-implies-mtls"])
	if err != nil {
		bad("tls-ca-implies-mtls", "%q is not a boolean", *s["tls-ca-implies-mtls"])
	}
	c.TLSCAImpliesMTLS = mtls
	if c.MTU = atoi("mtu", 0, 65535); c.MTU != 0 && c.MTU < 576 {
		bad("mtu", "%d is below 576", c.MTU)
	}
	for _, p := range []struct{ name, value string }{{"state-dir", c.StateDir}, {"socket", c.Socket}, {"bpf-root", c.BPFRoot}} {
		if !strings.HasPrefix(p.value, "/") {
			bad(p.name, "%q must be an absolute path", p.value)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}
