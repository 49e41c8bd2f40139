// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Command nori-agent is Nori's node agent: it owns the eBPF datapath, the
// node's addresses and endpoints, and serves the socket API that the CNI
// plugins, the Docker driver and the nori CLI talk to.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/nori-net/nori/agent/config"
	"github.com/nori-net/nori/agent/daemon"
	"github.com/nori-net/nori/agent/kvstore"
)

func main() {
	cfg, err := config.Parse(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nori-agent: %v\n", err)
		os.Exit(2)
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// etcd's gRPC client warns on every reconnect attempt; route that
	// through slog at debug instead of raw stderr.
	kvstore.RouteGRPCLogs(logger)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := daemon.Run(ctx, cfg, logger); err != nil {
		logger.Error("nori-agent failed", "err", err)
		os.Exit(1)
	}
}
