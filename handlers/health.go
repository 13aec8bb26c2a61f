package handlers

import (
	"context"
	"net/http"
	"sort"
	"time"
)

// healthz says the process is up.
func (h *Handlers) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz says whether Postgres and Redis answer, so a load balancer stops
// sending webhooks to a replica that cannot commit them.
func (h *Handlers) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	names := make([]string, 0, len(h.deps))
	for name := range h.deps {
		names = append(names, name)
	}
	sort.Strings(names)
	body, ready := "", true
	for _, name := range names {
		if err := h.deps[name].Ping(ctx); err != nil {
			h.log.WarnContext(ctx, "not ready", "request_id", requestID(r.Context()), "dependency", name, "err", err)
			body += name + ": down\n"
			ready = false
			continue
		}
		body += name + ": ok\n"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte(body))
}
