// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Command nori-docker is Nori's Docker network and IPAM driver (named
// "nori"): a libnetwork remote driver serving Docker's plugin protocol on
// a unix socket, which hands every endpoint to nori-agent.
//
//	docker network create --driver nori --ipam-driver nori nori-net
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/docker/dockerapi"
	"github.com/nori-net/nori/plugins/docker/driver"
	"github.com/nori-net/nori/plugins/docker/state"
)

// defaultSocket is where Docker discovers a plugin named "nori".
const defaultSocket = "/run/docker/plugins/nori.sock"

func main() {
	var (
		socket      = flag.String("socket", defaultSocket, "unix socket Docker calls the driver on (the file name is the driver's name)")
		agentSocket = flag.String("agent-socket", "", "nori-agent socket (default $NORI_SOCKET or "+api.DefaultSocket+")")
		dockerHost  = flag.String("docker-host", envOr("DOCKER_HOST", dockerapi.DefaultHost), "Docker API to read container names and labels from")
		stateDir    = flag.String("state-dir", state.DefaultDir, "directory of the driver's state file")
		logLevel    = flag.String("log-level", "info", "debug, info, warn or error")
	)
	flag.Parse()
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "nori-docker: --log-level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(log, *socket, api.SocketFromEnv(*agentSocket), *dockerHost, *stateDir); err != nil {
		log.Error("nori-docker failed", "err", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run(log *slog.Logger, socket, agentSocket, dockerHost, stateDir string) error {
	st, err := state.Open(stateDir)
	if err != nil {
		return err
	}
	docker, err := dockerapi.New(dockerHost, 10*time.Second)
	if err != nil {
		return err
	}
	d := driver.New(driver.Config{
		Agent:       driver.NewAgentClient(agentSocket),
		Docker:      docker,
		State:       st,
		Log:         log,
		AgentSocket: agentSocket,
	})
	defer d.Close()
	// Before the socket exists: no allocation can be in flight.
	swctx, swcancel := context.WithTimeout(context.Background(), 10*time.Second)
	if _, err := d.SweepAddresses(swctx); err != nil {
		log.Warn("addresses left by an interrupted run not swept", "err", err)
	}
	swcancel()

	ln, err := listen(socket)
	if err != nil {
		return err
	}
	defer os.Remove(socket)
	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	d.Resume()
	if err := notifyReady(); err != nil {
		log.Warn("tell systemd we are ready", "err", err)
	}
	log.Info("nori-docker serving", "socket", socket, "agent", agentSocket, "docker", dockerHost, "state", st.Path())

	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", socket, err)
	case <-ctx.Done():
	}
	log.Info("nori-docker stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// listen replaces a socket left by an earlier run (a crash leaves the file
// behind, and bind would fail on it).
func listen(socket string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", socket, err)
	}
	// Only root (dockerd) may drive the network.
	if err := os.Chmod(socket, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", socket, err)
	}
	return ln, nil
}
