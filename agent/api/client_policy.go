// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// PolicyImport adds the rules of a policy file (a JSON array or a single
// rule) to the repository.
func (c *Client) PolicyImport(ctx context.Context, rules json.RawMessage, replace bool) (*PolicyRevision, error) {
	var r PolicyRevision
	return &r, c.do(ctx, http.MethodPost, PathPolicyImport, &PolicyImportRequest{Rules: rules, Replace: replace}, &r)
}

// PolicyGet returns the rules carrying every label in labels (all rules
// when labels is empty).
func (c *Client) PolicyGet(ctx context.Context, labels []string) (*PolicyGet, error) {
	var r PolicyGet
	return &r, c.do(ctx, http.MethodGet, withQuery(PathPolicy, "label", labels), nil, &r)
}

// PolicyDelete removes the rules carrying every label in labels, or all
// rules.
func (c *Client) PolicyDelete(ctx context.Context, labels []string, all bool) (*PolicyRevision, error) {
	var r PolicyRevision
	return &r, c.do(ctx, http.MethodPost, PathPolicyDelete, &PolicyDeleteRequest{Labels: labels, All: all}, &r)
}

// PolicyValidate checks a policy file without importing it.
func (c *Client) PolicyValidate(ctx context.Context, rules json.RawMessage) (*PolicyValidate, error) {
	var r PolicyValidate
	return &r, c.do(ctx, http.MethodPost, PathPolicyValidate, &PolicyValidateRequest{Rules: rules}, &r)
}

// PolicyTrace explains the verdict on a flow between two label sets.
func (c *Client) PolicyTrace(ctx context.Context, req *PolicyTraceRequest) (*PolicyTrace, error) {
	var r PolicyTrace
	return &r, c.do(ctx, http.MethodPost, PathPolicyTrace, req, &r)
}

// BPFPolicy lists the datapath policy entries of one endpoint, or of every
// endpoint when endpointID is 0.
func (c *Client) BPFPolicy(ctx context.Context, endpointID uint16) ([]BPFPolicyEntry, error) {
	path := PathBPFPolicy
	if endpointID != 0 {
		path = withQuery(path, "endpoint", []string{strconv.Itoa(int(endpointID))})
	}
	var es []BPFPolicyEntry
	return es, c.do(ctx, http.MethodGet, path, nil, &es)
}

// BPFCT lists the datapath's connection tracking entries.
func (c *Client) BPFCT(ctx context.Context) ([]BPFCTEntry, error) {
	var es []BPFCTEntry
	return es, c.do(ctx, http.MethodGet, PathBPFCT, nil, &es)
}

// Monitor streams the events of the given types (every type when empty)
// to fn until ctx ends (then it returns nil), the agent closes the stream
// or fn returns an error. Client.Timeout does not apply: a quiet stream
// is normal.
func (c *Client) Monitor(ctx context.Context, types []string, fn func(MonitorEvent) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://nori"+withQuery(PathMonitor, "type", types), nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	hc := *c.http()
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%w at %s: %v", ErrUnreachable, c.socket(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		apiErr := &Error{HTTPStatus: resp.StatusCode}
		if json.Unmarshal(data, apiErr) != nil || apiErr.Message == "" {
			apiErr.Code = CodeInternal
			apiErr.Message = fmt.Sprintf("agent answered %s: %s", resp.Status, data)
		}
		return apiErr
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev MonitorEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("decode monitor event: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read monitor stream: %w", err)
	}
	return nil
}

// withQuery appends key=value for each value to path.
func withQuery(path, key string, values []string) string {
	if len(values) == 0 {
		return path
	}
	return path + "?" + url.Values{key: values}.Encode()
}
