// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package server

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/nori-net/nori/agent/api"
)

// monitor streams events as newline-delimited JSON, one flush per event,
// until the client goes away, the Hub closes or the server shuts down.
func (s *Server) monitor(w http.ResponseWriter, r *http.Request) {
	if s.b.Monitor == nil {
		s.fail(w, notImplemented("monitor"))
		return
	}
	types := r.URL.Query()["type"]
	for _, t := range types {
		if !api.ValidMonitorType(t) {
			s.fail(w, invalid(fmt.Sprintf("type: unknown event type %q, want one of %v", t, api.MonitorTypes)))
			return
		}
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.fail(w, fmt.Errorf("stream monitor events: the connection cannot flush"))
		return
	}
	events, cancel := s.b.Monitor.Subscribe(types)
	defer cancel()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.stopping:
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if err := enc.Encode(ev); err != nil {
				return // the client is gone
			}
			flusher.Flush()
		}
	}
}
