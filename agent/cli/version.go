// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cli

import (
	"fmt"
	"io"
	"runtime"

	"github.com/nori-net/nori/agent/api"
	"github.com/spf13/cobra"
)

// clientVersion is the version `make build` stamps into every Nori binary.
func clientVersion() api.Version {
	return api.Version{Version: api.BuildVersion, GoVersion: runtime.Version()}
}

// versions is `nori version -o json`; Daemon is null when the agent is
// unreachable.
type versions struct {
	Client api.Version  `json:"client"`
	Daemon *api.Version `json:"daemon"`
}

func newVersionCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the client's and the agent's versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versions{Client: clientVersion()}
			daemon, err := o.client().Version(cmd.Context())
			if err == nil {
				v.Daemon = daemon
			}
			if o.json() {
				if err != nil {
					fmt.Fprintln(o.stderr, "Daemon:", err)
				}
				return writeJSON(o.stdout, v)
			}
			return RenderVersion(o.stdout, v.Client, v.Daemon, err)
		},
	}
}

// RenderVersion prints the client's version and the agent's, or why the
// agent did not answer.
func RenderVersion(w io.Writer, client api.Version, daemon *api.Version, daemonErr error) error {
	if _, err := fmt.Fprintf(w, "Client: %s %s\n", client.Version, client.GoVersion); err != nil {
		return fmt.Errorf("write version: %w", err)
	}
	var err error
	switch {
	case daemon != nil:
		_, err = fmt.Fprintf(w, "Daemon: %s %s\n", daemon.Version, daemon.GoVersion)
	case daemonErr != nil:
		_, err = fmt.Fprintf(w, "Daemon: unreachable: %v\n", daemonErr)
	}
	if err != nil {
		return fmt.Errorf("write version: %w", err)
	}
	return nil
}
