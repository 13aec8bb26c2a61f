package handlers

import "net/http"

// Public is the listener on HTTP_ADDR: webhooks, the web chat and health. Every public URL
// is listed here.
func (h *Handlers) Public() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/telegram", h.telegramWebhook)
	mux.HandleFunc("POST /webhooks/twilio/sms", h.twilioSMS)
	mux.HandleFunc("POST /webhooks/twilio/status", h.twilioStatus)
	mux.HandleFunc("POST /webhooks/smsgate", h.smsgateWebhook)
	mux.HandleFunc("GET /chat", h.chatPage)
	mux.Handle("GET /chat/static/", h.chatStatic())
	mux.HandleFunc("POST /chat/send", h.chatSend)
	mux.HandleFunc("POST /chat/photo", h.chatPhoto)
	mux.HandleFunc("GET /chat/inbox", h.chatInbox)
	mux.HandleFunc("POST /chat/exit", h.chatExit)
	mux.HandleFunc("GET /privacy", h.privacyPage)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	return h.logged(mux)
}
