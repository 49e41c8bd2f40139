// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package cli is the `nori` command line: it talks to the local nori-agent
// through agent/api only and renders its answers as cilium-like tables or
// JSON.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/spf13/cobra"
)

// callTimeout bounds each call to the agent; the CLI should never hang on
// a wedged agent.
const callTimeout = 30 * time.Second

// Output formats of -o.
const (
	FormatTable = "table"
	FormatJSON  = "json"
)

// options are the global flags.
type options struct {
	socket string
	output string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func (o *options) client() *api.Client {
	c := api.NewClient(api.SocketFromEnv(o.socket))
	c.Timeout = callTimeout
	return c
}

func (o *options) json() bool { return o.output == FormatJSON }

// Run executes the CLI with args (without the program name) and returns
// the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, os.Stdin, stdout, stderr)
}

// runWith is Run with standard input given, for tests.
func runWith(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o := &options{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCommand(o)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, errorLine(err))
		return 1
	}
	return 0
}

// errorLine turns an error into the one line a user sees.
func errorLine(err error) string {
	if errors.Is(err, api.ErrUnreachable) {
		return fmt.Sprintf("Error: %v (is nori-agent running? set --socket or $%s)", err, api.SocketEnv)
	}
	return fmt.Sprintf("Error: %v", err)
}

func newRootCommand(o *options) *cobra.Command {
	root := &cobra.Command{
		Use:           "nori",
		Short:         "Inspect and manage the local Nori agent",
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if o.output != FormatTable && o.output != FormatJSON {
				return fmt.Errorf("unknown output format %q: use %s or %s", o.output, FormatTable, FormatJSON)
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&o.socket, "socket", "",
		fmt.Sprintf("agent socket (default $%s, else %s)", api.SocketEnv, api.DefaultSocket))
	root.PersistentFlags().StringVarP(&o.output, "output", "o", FormatTable, "output format: table or json")
	root.AddCommand(
		newStatusCommand(o),
		newEndpointCommand(o),
		newIdentityCommand(o),
		newNodeCommand(o),
		newPolicyCommand(o),
		newBPFCommand(o),
		newMonitorCommand(o),
		newVersionCommand(o),
	)
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}
