// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nori-net/nori/agent/api"
)

var _ Agent = (*AgentClient)(nil)

func TestAgentClientEndpointLabels(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nori.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var got LabelsRequest
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathLabels, func(w http.ResponseWriter, r *http.Request) {
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("decode: %v", err)
		}
		if got.ContainerID == "missing" {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"code":"not-found","message":"no endpoint missing/eth0"}`))
			return
		}
		w.Write([]byte(`{}`))
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	ctx := context.Background()

	c := NewAgentClient(sock)
	req := &LabelsRequest{Attachment: api.Attachment{ContainerID: "e1", IfName: "tmpe1"}, Runtime: "docker", Name: "app1", Labels: map[string]string{"name": "app1"}}
	if err := c.EndpointLabels(ctx, req); err != nil {
		t.Fatalf("EndpointLabels: %v", err)
	}
	if got.Name != "app1" || got.Labels["name"] != "app1" || got.IfName != "tmpe1" {
		t.Errorf("agent got %+v", got)
	}
	err = c.EndpointLabels(ctx, &LabelsRequest{Attachment: api.Attachment{ContainerID: "missing", IfName: "eth0"}})
	if !api.IsCode(err, api.CodeNotFound) {
		t.Errorf("missing endpoint: %v, want code not-found", err)
	}

	// An agent without the route: Go's mux answers a plain 404.
	srv.Config.Handler = http.NotFoundHandler()
	err = c.EndpointLabels(ctx, req)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.HTTPStatus != http.StatusNotFound || ae.Code == api.CodeNotFound {
		t.Errorf("agent without the route: %v", err)
	}

	gone := NewAgentClient(filepath.Join(t.TempDir(), "none.sock"))
	if err := gone.EndpointLabels(ctx, req); !errors.Is(err, api.ErrUnreachable) || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("no agent: %v, want ErrUnreachable", err)
	}
}
