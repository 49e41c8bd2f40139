// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package kvstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// DefaultListenClient is where the embedded store serves clients unless told
// otherwise (--kvstore-listen).
const DefaultListenClient = "127.0.0.1:2379"

// socketName is the unix socket inside DataDir on which the embedded store
// always serves the local agent, whatever --kvstore-listen says.
const socketName = "etcd.sock"

// placeholderPeerURL names the member in etcd's membership data. A
// single-member cluster never talks to peers, so nothing listens on it:
// agents in several network namespaces and a host where something already
// holds port 2380 both work.
const placeholderPeerURL = "http://127.0.0.1:2380"

// EmbeddedConfig configures StartEmbedded.
type EmbeddedConfig struct {
	// DataDir holds etcd's data (the agent passes <state-dir>/etcd).
	DataDir string
	// ListenClient is host:port where other agents reach the store;
	// DefaultListenClient when empty. Port 0 picks a free port.
	ListenClient string
	// Name is the etcd member name; "nori" when empty.
	Name string
	// ReadyTimeout bounds the wait for the server; 60 s when zero.
	ReadyTimeout time.Duration
	Logger       *slog.Logger
}

// Embedded is a running single-member etcd inside the agent process.
type Embedded struct {
	etcd   *embed.Etcd
	lock   *os.File
	quiet  *atomic.Bool
	socket string
	tcp    []string

	closeOnce sync.Once
	closeErr  error
}

// StartEmbedded starts etcd on cfg.DataDir and waits until it serves. It
// restarts cleanly on the same DataDir, also after the agent was killed.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("start embedded etcd: data dir is empty")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	logger := cfg.Logger.With("subsys", "etcd")
	if cfg.ListenClient == "" {
		cfg.ListenClient = DefaultListenClient
	}
	if cfg.Name == "" {
		cfg.Name = "nori"
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = time.Minute
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create etcd data dir: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			lock.Close()
		}
	}()

	listen, err := clientURL(cfg.ListenClient)
	if err != nil {
		return nil, err
	}
	ec := embed.NewConfig()
	ec.Name = cfg.Name
	// etcd keeps its own files in <DataDir>/member; the lock and the socket
	// sit beside that directory.
	ec.Dir = dir
	ec.ListenClientUrls = []url.URL{listen}
	socket := filepath.Join(dir, socketName)
	// sun_path holds 108 bytes; a longer state dir only loses the socket.
	if len(socket) < 100 {
		ec.ListenClientUrls = append(ec.ListenClientUrls, url.URL{Scheme: "unix", Host: socket})
	} else {
		logger.Warn("state dir path too long for the local etcd socket, using TCP only", "path", socket)
		socket = ""
	}
	ec.AdvertiseClientUrls = []url.URL{advertiseURL(listen)}
	peer, _ := url.Parse(placeholderPeerURL)
	ec.ListenPeerUrls = nil
	ec.AdvertisePeerUrls = []url.URL{*peer}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	ec.InitialClusterToken = "nori"
	ec.ClusterState = embed.ClusterStateFlagNew
	// Compaction keeps the store small; watchers that fall behind re-list
	// (see ListAndWatch).
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "1h"
	ec.EnableGRPCGateway = false
	// NewConfig leaves these zero (only etcd's flag parsing sets them), and
	// zero makes etcd log every request as slow.
	ec.WarningUnaryRequestDuration = embed.DefaultWarningUnaryRequestDuration
	ec.WarningApplyDuration = embed.DefaultWarningApplyDuration
	quiet := new(atomic.Bool)
	ec.Logger = "zap"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newZapLogger(logger, quiet))

	e, err := embed.StartEtcd(ec)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("start embedded etcd: %s is in use (another etcd?); choose another address with --kvstore-listen: %w", cfg.ListenClient, err)
	}
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", dir, err)
	}
	timer := time.NewTimer(cfg.ReadyTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		quiet.Store(true)
		e.Close()
		return nil, fmt.Errorf("start embedded etcd in %s: %w", dir, err)
	case <-timer.C:
		quiet.Store(true)
		e.Close()
		return nil, fmt.Errorf("start embedded etcd in %s: not ready after %s", dir, cfg.ReadyTimeout)
	case <-ctx.Done():
		quiet.Store(true)
		e.Close()
		return nil, fmt.Errorf("start embedded etcd: %w", ctx.Err())
	}
	emb := &Embedded{etcd: e, lock: lock, quiet: quiet, socket: socket}
	for _, l := range e.Clients {
		if l.Addr().Network() == "tcp" {
			emb.tcp = append(emb.tcp, "http://"+l.Addr().String())
		}
	}
	logger.Info("embedded etcd ready", "dir", dir, "clientURLs", emb.ClientURLs())
	ok = true
	return emb, nil
}

// Endpoints are what the local agent passes to Connect: the unix socket when
// there is one, so the local connection does not depend on --kvstore-listen.
func (e *Embedded) Endpoints() []string {
	if e.socket != "" {
		return []string{"unix://" + e.socket}
	}
	return e.tcp
}

// ClientURLs are every address the store serves clients on, with the port
// actually bound when port 0 was asked for.
func (e *Embedded) ClientURLs() []string {
	urls := append([]string(nil), e.tcp...)
	if e.socket != "" {
		urls = append(urls, "unix://"+e.socket)
	}
	return urls
}

// Err reports a fatal server error after start.
func (e *Embedded) Err() <-chan error { return e.etcd.Err() }

// Close stops the server; its data stays in DataDir. Calling it again does
// nothing.
func (e *Embedded) Close() error {
	e.closeOnce.Do(func() {
		e.quiet.Store(true)
		e.etcd.Close()
		e.closeErr = e.lock.Close()
	})
	return e.closeErr
}

// lockDir makes a second agent on the same state dir fail with a clear
// message instead of fighting over etcd's files. The kernel drops the lock
// when the process dies, so a SIGKILLed agent leaves nothing to clean up.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "nori.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open etcd dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock etcd data dir %s (another nori-agent uses this state dir?): %w", dir, err)
	}
	return f, nil
}

func clientURL(hostport string) (url.URL, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return url.URL{}, fmt.Errorf("parse kvstore listen address %q: %w", hostport, err)
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		return url.URL{}, fmt.Errorf("parse kvstore listen address %q: host must be an IP address", hostport)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}, nil
}

// advertiseURL is only shown in etcd's member list; an unspecified listen
// address is advertised as loopback rather than as 0.0.0.0.
func advertiseURL(listen url.URL) url.URL {
	host, port, _ := net.SplitHostPort(listen.Host)
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	if port == "0" {
		port = "2379"
	}
	return url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}
}
