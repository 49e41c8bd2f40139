// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package server

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/monitor"
)

// waitSubscribers waits until the hub has n subscribers.
func waitSubscribers(t *testing.T, h *monitor.Hub, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.Stats().Subscribers != n {
		if time.Now().After(deadline) {
			t.Fatalf("hub has %d subscribers, want %d", h.Stats().Subscribers, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMonitorStream(t *testing.T) {
	hub := monitor.NewHub(monitor.Config{NodeName: "host1"})
	defer hub.Close()
	c, _ := startServer(t, Backend{Monitor: hub})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan api.MonitorEvent, 10)
	done := make(chan error, 1)
	go func() {
		done <- c.Monitor(ctx, []string{api.MonitorDrop, api.MonitorL7}, func(ev api.MonitorEvent) error {
			got <- ev
			return nil
		})
	}()
	waitSubscribers(t, hub, 1)
	if n := hub.Subscribers(api.MonitorTrace); n != 0 {
		t.Fatalf("trace subscribers = %d, want 0", n)
	}

	hub.Publish(api.MonitorEvent{Type: api.MonitorTrace, Reason: "to-overlay"}) // not asked for
	hub.Publish(api.MonitorEvent{Type: api.MonitorDrop, Reason: "drop-policy", EndpointID: 12})
	hub.Publish(api.MonitorEvent{Type: api.MonitorL7, HTTP: &api.MonitorHTTP{Method: "GET"}})
	for _, want := range []string{api.MonitorDrop, api.MonitorL7} {
		select {
		case ev := <-got:
			if ev.Type != want || ev.Node != "host1" {
				t.Fatalf("event %+v, want type %s from host1", ev, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event", want)
		}
	}

	// The client going away ends the subscription.
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Monitor after cancel = %v, want nil", err)
	}
	waitSubscribers(t, hub, 0)
}

func TestMonitorEndsOnShutdownAndClose(t *testing.T) {
	tests := []struct {
		name string
		end  func(s *Server, h *monitor.Hub)
	}{
		{"shutdown", func(s *Server, _ *monitor.Hub) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Errorf("shutdown waited for the stream: %v", err)
			}
		}},
		{"hub closed", func(_ *Server, h *monitor.Hub) { h.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := monitor.NewHub(monitor.Config{})
			defer hub.Close()
			c, s := startServer(t, Backend{Monitor: hub})
			done := make(chan error, 1)
			go func() {
				done <- c.Monitor(context.Background(), nil, func(api.MonitorEvent) error { return nil })
			}()
			waitSubscribers(t, hub, 1)
			tt.end(s, hub)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Monitor = %v, want nil at the end of the stream", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("stream did not end")
			}
		})
	}
}

func TestMonitorBadType(t *testing.T) {
	hub := monitor.NewHub(monitor.Config{})
	defer hub.Close()
	c, _ := startServer(t, Backend{Monitor: hub})
	err := c.Monitor(context.Background(), []string{"drops"}, func(api.MonitorEvent) error { return nil })
	wantAPIError(t, err, api.CodeInvalid, http.StatusBadRequest, `unknown event type "drops"`)
	var e *api.Error
	if !errors.As(err, &e) {
		t.Fatal("not an api error")
	}
}
