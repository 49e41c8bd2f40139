// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// writeJSON prints v indented, as `cilium ... -o json` does.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// table aligns rows with cilium's spacing and drops the trailing blanks
// that empty last cells would leave.
type table struct {
	buf bytes.Buffer
	tw  *tabwriter.Writer
	out io.Writer
}

func newTable(w io.Writer) *table {
	t := &table{out: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 3, ' ', 0)
	return t
}

func (t *table) Write(p []byte) (int, error) { return t.tw.Write(p) }

// Flush writes the aligned table.
func (t *table) Flush() error {
	if err := t.tw.Flush(); err != nil {
		return fmt.Errorf("align table: %w", err)
	}
	for _, line := range strings.SplitAfter(t.buf.String(), "\n") {
		if line == "" {
			continue
		}
		if _, err := io.WriteString(t.out, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
	}
	return nil
}

// row writes one tab-separated table row.
func row(w io.Writer, cells ...string) {
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// multiRow writes a row whose column col holds several values, one per
// line, as cilium lists labels; the other columns appear on the first line
// only.
func multiRow(w io.Writer, cells []string, col int, values []string) {
	first := append([]string(nil), cells...)
	if len(values) > 0 {
		first[col] = values[0]
	}
	row(w, first...)
	for _, v := range values[min(1, len(values)):] {
		more := make([]string, len(cells))
		more[col] = v
		row(w, more...)
	}
}

func enabled(b bool) string {
	if b {
		return "Enabled"
	}
	return "Disabled"
}
