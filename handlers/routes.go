package handlers

import "net/http"

// Public is the listener on HTTP_ADDR: webhooks and health. Every public URL
// is listed here.
func (h *Handlers) Public() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/telegram", h.telegramWebhook)
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	return h.logged(mux)
}
