// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Command nori is the command line client of nori-agent.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/nori-net/nori/agent/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
