// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/policy"
	"github.com/spf13/cobra"
)

func newPolicyCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Manage the cluster's network policy (Cilium policy JSON)",
	}
	cmd.AddCommand(newPolicyImportCommand(o), newPolicyGetCommand(o), newPolicyDeleteCommand(o),
		newPolicyValidateCommand(o), newPolicyTraceCommand(o))
	return cmd
}

func newPolicyImportCommand(o *options) *cobra.Command {
	var replace bool
	cmd := &cobra.Command{
		Use:   "import FILE|-",
		Short: "Add the rules of a policy file (- reads standard input)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, _, err := readPolicy(o, args[0])
			if err != nil {
				return err
			}
			rev, err := o.client().PolicyImport(cmd.Context(), data, replace)
			if err != nil {
				return fmt.Errorf("import policy: %w", err)
			}
			if o.json() {
				return writeJSON(o.stdout, rev)
			}
			return RenderPolicyRevision(o.stdout, rev)
		},
	}
	cmd.Flags().BoolVar(&replace, "replace", false, "first remove the rules that carry the same labels as an imported rule")
	return cmd
}

func newPolicyGetCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "get [LABEL...]",
		Short: "Show the rules carrying every given label (all rules without labels)",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := o.client().PolicyGet(cmd.Context(), args)
			if err != nil {
				return fmt.Errorf("get policy: %w", err)
			}
			if o.json() {
				return writeJSON(o.stdout, p)
			}
			return RenderPolicy(o.stdout, p)
		},
	}
}

func newPolicyDeleteCommand(o *options) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "delete LABEL...|--all",
		Short: "Remove the rules carrying every given label, or all rules",
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return fmt.Errorf("delete policy: give labels or --all, not both")
			case !all && len(args) == 0:
				return fmt.Errorf("delete policy: give the labels of the rules to delete, or --all")
			}
			rev, err := o.client().PolicyDelete(cmd.Context(), args, all)
			if err != nil {
				return fmt.Errorf("delete policy: %w", err)
			}
			if o.json() {
				return writeJSON(o.stdout, rev)
			}
			return RenderPolicyRevision(o.stdout, rev)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "delete every rule")
	return cmd
}

func newPolicyValidateCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE|-",
		Short: "Check a policy file without importing it (needs no agent)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			_, rules, err := readPolicy(o, args[0])
			if err != nil {
				return err
			}
			v := api.PolicyValidate{Count: len(rules)}
			if o.json() {
				return writeJSON(o.stdout, v)
			}
			_, err = fmt.Fprintf(o.stdout, "Valid: %s\n", plural(v.Count, "rule"))
			return err
		},
	}
}

// readPolicy reads a policy file (- is standard input) and parses it
// here, so a bad file is reported before anything is sent, with the same
// rule- and field-naming message the agent would give.
func readPolicy(o *options, name string) (json.RawMessage, []policy.Rule, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(o.stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read policy: %w", err)
	}
	rules, err := policy.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", displayName(name), err)
	}
	return json.RawMessage(bytes.TrimSpace(data)), rules, nil
}

func displayName(name string) string {
	if name == "-" {
		return "standard input"
	}
	return name
}

func newPolicyTraceCommand(o *options) *cobra.Command {
	var src, dst []string
	var dport string
	cmd := &cobra.Command{
		Use:   "trace --src LABEL... --dst LABEL... --dport PORT[/PROTO]",
		Short: "Explain the verdict on a flow between two label sets",
		Example: "  nori policy trace --src container:name=app1 --dst container:name=app2 --dport 443/tcp\n" +
			"  nori policy trace --src reserved:world --dst container:name=db --dport 5432",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &api.PolicyTraceRequest{Src: src, Dst: dst}
			var err error
			if req.DPort, req.Proto, err = parsePortProto(dport); err != nil {
				return err
			}
			if len(src) == 0 || len(dst) == 0 {
				return fmt.Errorf("trace policy: give --src and --dst labels")
			}
			tr, err := o.client().PolicyTrace(cmd.Context(), req)
			if err != nil {
				return fmt.Errorf("trace policy: %w", err)
			}
			if o.json() {
				return writeJSON(o.stdout, tr)
			}
			return RenderPolicyTrace(o.stdout, tr)
		},
	}
	cmd.Flags().StringArrayVarP(&src, "src", "s", nil, "a label of the source (repeat for more)")
	cmd.Flags().StringArrayVarP(&dst, "dst", "d", nil, "a label of the destination (repeat for more)")
	cmd.Flags().StringVar(&dport, "dport", "", "destination port and protocol, e.g. 443/tcp (tcp when left out; for icmp the type)")
	return cmd
}

// parsePortProto reads "443", "443/tcp" or "8/icmp".
func parsePortProto(s string) (uint16, string, error) {
	if s == "" {
		return 0, "", fmt.Errorf("trace policy: --dport is required, e.g. --dport 443/tcp")
	}
	portStr, proto, _ := strings.Cut(s, "/")
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return 0, "", fmt.Errorf("parse --dport %q: %q is not a port from 0 to 65535", s, portStr)
	}
	proto = strings.ToLower(proto)
	if _, err := (api.PolicyTraceRequest{Proto: proto}).ProtoNumber(); err != nil {
		return 0, "", fmt.Errorf("parse --dport %q: %w", s, err)
	}
	return uint16(port), proto, nil
}

// RenderPolicyRevision prints the answer to an import or delete as
// `cilium policy import` does.
func RenderPolicyRevision(w io.Writer, r *api.PolicyRevision) error {
	_, err := fmt.Fprintf(w, "Revision: %d\n", r.Revision)
	return err
}

// RenderPolicy prints the rules indented, then the revision.
func RenderPolicy(w io.Writer, p *api.PolicyGet) error {
	var buf bytes.Buffer
	rules := p.Rules
	if len(rules) == 0 {
		rules = json.RawMessage("[]")
	}
	if err := json.Indent(&buf, rules, "", "  "); err != nil {
		return fmt.Errorf("indent rules: %w", err)
	}
	_, err := fmt.Fprintf(w, "%s\nRevision: %d\n", buf.Bytes(), p.Revision)
	return err
}

// RenderPolicyTrace prints the trace's explanation; it ends with the final
// verdict.
func RenderPolicyTrace(w io.Writer, tr *api.PolicyTrace) error {
	lines := tr.Lines
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], "Final verdict") {
		word := "DENIED"
		if tr.Verdict == "allow" {
			word = "ALLOWED"
		}
		lines = append(lines[:len(lines):len(lines)], "Final verdict: "+word)
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return fmt.Errorf("write trace: %w", err)
		}
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
