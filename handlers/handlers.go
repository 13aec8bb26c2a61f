// Package handlers holds every HTTP endpoint: the webhooks, health checks,
// and (in later work) the web chat and the officers' console. Each handler
// authenticates first, caps the body, parses, and answers 2xx only once the
// effect is durable.
package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"tinbao/bot/telegram"
	"tinbao/bot/web"
	"tinbao/locales"
)

// handleTimeout bounds the handling of one inbound message, well inside the
// sender lock's minute and Telegram's 60 s wait.
const handleTimeout = 20 * time.Second

// MaxWebhookBody caps a webhook body; larger bodies get 413, never a silent cut.
const MaxWebhookBody = 1 << 20

// Pinger is a dependency that /readyz checks.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config is what the handlers need from tinbao's configuration.
type Config struct {
	TelegramWebhookSecret string // empty: the Telegram webhook route answers 404
	SecureCookies         bool   // PUBLIC_URL is https: cookies are Secure
	SMS                   *SMS   // nil: the SMS webhooks answer 404
	// TrustedProxyHeader names the header a reverse proxy sets to the
	// client's address (X-Forwarded-For: its right-most entry; X-Real-IP);
	// empty: the connection's peer is the client. Per-address limits use it.
	TrustedProxyHeader string
}

// Handlers serves tinbao's HTTP endpoints.
type Handlers struct {
	cfg      Config
	telegram *telegram.Adapter // nil when Telegram is off
	web      *web.Adapter
	cat      *locales.Catalog
	deps     map[string]Pinger
	log      *slog.Logger
	chatTmpl *template.Template
	privTmpl *template.Template
}

// New builds the handlers and parses their templates. telegram may be nil
// (channel off); deps are checked by /readyz.
func New(cfg Config, tg *telegram.Adapter, wa *web.Adapter, cat *locales.Catalog, deps map[string]Pinger, log *slog.Logger) (*Handlers, error) {
	tmpl, err := parseChatTemplate()
	if err != nil {
		return nil, fmt.Errorf("handlers: %w", err)
	}
	priv, err := template.ParseFS(templateFS, "templates/privacy.html")
	if err != nil {
		return nil, fmt.Errorf("handlers: %w", err)
	}
	return &Handlers{cfg: cfg, telegram: tg, web: wa, cat: cat, deps: deps, log: log, chatTmpl: tmpl, privTmpl: priv}, nil
}

type ctxKey int

const requestIDKey ctxKey = iota

func newRequestID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController reach the connection (Flush, for
// the console's event stream).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Logged wraps another listener's handler (the console) in the same
// request log and panic guard.
func (h *Handlers) Logged(next http.Handler) http.Handler { return h.logged(next) }

// logged gives each request an ID (echoed in X-Request-ID) and logs one line:
// method, path, status, duration. Never the query string or the body.
func (h *Handlers) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		w.Header().Set("X-Request-ID", id)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		defer func() {
			// A bug must not take the connection down without an answer.
			if p := recover(); p != nil {
				h.log.ErrorContext(r.Context(), "panic", "request_id", id, "path", r.URL.Path, "panic", fmt.Sprint(p),
					"stack", string(debug.Stack()))
				fail(sw, r, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(sw, r)
		h.log.InfoContext(r.Context(), "http request", "request_id", id, "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "duration_ms", time.Since(start).Milliseconds())
	})
}

// fail answers with a status and a short plain reason that carries the request
// ID, never an internal error string.
func fail(w http.ResponseWriter, r *http.Request, status int, reason string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(reason + " (request " + requestID(r.Context()) + ")\n"))
}
