// Package console is the officers' console, on its own listener
// (CONSOLE_ADDR): sign in, the queue ordered by urgency and age, taking a
// report (never two officers on the same one), its page with the words that
// raised an alarm first and the whole timeline, status changes and messages
// to the reporter, who stays unknown. Server-rendered Vietnamese, one small
// script of our own (the live queue), every view and change audited.
package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/prometheus/client_golang/prometheus"

	"tinbao/flows"
	"tinbao/locales"
	"tinbao/storage"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Limiter counts events in a window (Redis), for login throttling.
type Limiter interface {
	Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, error)
	// Forgive takes back one event Allow counted under key.
	Forgive(ctx context.Context, key string) error
}

// Config tunes the console.
type Config struct {
	SecureCookies bool          // the console is served over https
	IdleTimeout   time.Duration // default 30 minutes
	Lifetime      time.Duration // absolute; default 12 hours
	// Collectors are more figures for /metrics (the intake counters).
	Collectors []prometheus.Collector
}

// Console serves the officers' pages.
type Console struct {
	db      *storage.DB
	engine  *flows.Engine
	cat     *locales.Catalog
	limiter Limiter
	log     *slog.Logger
	sm      *scs.SessionManager
	pages   map[string]*template.Template
	live    hub
	metrics []prometheus.Collector
}

// New builds the console and parses its pages; sessions live in Postgres.
func New(cfg Config, db *storage.DB, engine *flows.Engine, cat *locales.Catalog, limiter Limiter, log *slog.Logger) (*Console, error) {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = 12 * time.Hour
	}
	sm := scs.New()
	sm.Store = pgxstore.NewWithCleanupInterval(db.Pool(), 0)
	sm.IdleTimeout, sm.Lifetime = cfg.IdleTimeout, cfg.Lifetime
	sm.Cookie.Name = "tinbao_console"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteStrictMode
	sm.Cookie.Secure = cfg.SecureCookies
	sm.Cookie.Persist = false
	c := &Console{db: db, engine: engine, cat: cat, limiter: limiter, log: log, sm: sm, pages: map[string]*template.Template{},
		live: hub{stop: make(chan struct{})}, metrics: cfg.Collectors}
	funcs := template.FuncMap{
		"t":     func(id string) string { return cat.T(locales.Default, id, nil) },
		"named": c.named,
		"why":   c.reason,      // why a message failed: in words where known, else as recorded
		"words": c.knownReason, // the same, "" where not known
		"event": c.eventWords,
		"when":  func(t time.Time) string { return t.In(vietnam).Format("02/01/2006 15:04") },
		"age":   c.age,
		"span":  c.span,
		"has":   func(m map[string]int, k string) int { return m[k] },
		"list":  func(s ...string) []string { return s },
		"has2":  func(s []string, v string) bool { return slices.Contains(s, v) },
		"mul":   func(a, b int) int { return a * b },
		"add":   func(a, b int) int { return a + b },
		"sub":   func(a, b int) int { return a - b },
	}
	for _, page := range []string{"login", "queue", "tip", "error", "kpi", "twofactor", "enrol", "audit", "admin", "late", "requests"} {
		files := []string{"templates/layout.html", "templates/" + page + ".html"}
		if page == "tip" || page == "requests" {
			files = append(files, "templates/datareqs.html") // the table of data requests
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, files...)
		if err != nil {
			return nil, fmt.Errorf("console: %s page: %w", page, err)
		}
		c.pages[page] = t
	}
	return c, nil
}

// vietnam is the time officers read: UTC+7 all year.
var vietnam = time.FixedZone("ICT", 7*60*60)

// Handler is every route of the console.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", c.loginPage)
	mux.HandleFunc("POST /login", c.login)
	mux.HandleFunc("GET /login/2fa", c.secondFactorPage)
	mux.HandleFunc("POST /login/2fa", c.secondFactor)
	mux.Handle("GET /account/2fa", c.auth(c.enrolPage))
	mux.Handle("GET /account/2fa/qr.png", c.auth(c.enrolQR))
	mux.Handle("POST /account/2fa", c.auth(c.enrol))
	mux.Handle("POST /logout", c.auth(c.logout))
	mux.Handle("POST /logout/everywhere", c.auth(c.logoutEverywhere))
	mux.Handle("GET /{$}", http.RedirectHandler("/queue", http.StatusSeeOther))
	mux.Handle("GET /queue", c.auth(c.queue))
	mux.Handle("POST /queue/next", c.auth(c.claimNext))
	mux.Handle("GET /tips/{code}", c.auth(c.tip))
	mux.Handle("POST /tips/{code}/claim", c.auth(c.claim))
	mux.Handle("POST /tips/{code}/release", c.auth(c.release))
	mux.Handle("POST /tips/{code}/status", c.auth(c.changeStatus))
	mux.Handle("POST /tips/{code}/reply", c.auth(c.reply))
	mux.Handle("POST /tips/{code}/refer", c.auth(c.refer))
	mux.Handle("POST /tips/{code}/assign", c.auth(c.assign))
	mux.Handle("POST /tips/{code}/clock", c.auth(c.decisionClock))
	mux.Handle("POST /tips/{code}/note", c.auth(c.note))
	mux.Handle("POST /tips/{code}/flag", c.auth(c.flagSender))
	mux.Handle("POST /tips/{code}/unflag", c.auth(c.unflagSender))
	mux.Handle("GET /tips/{code}/media/{id}", c.auth(c.mediaFile))
	mux.Handle("GET /tips/{code}/media/{id}/original", c.auth(c.mediaOriginal))
	mux.Handle("GET /audit", c.auth(c.auditPage))
	mux.Handle("GET /late", c.auth(c.late))
	mux.Handle("GET /requests", c.auth(c.requests))
	mux.Handle("POST /requests/{id}/decide", c.auth(c.decideRequest))
	mux.Handle("GET /admin", c.auth(c.admin))
	mux.Handle("POST /admin/officers", c.auth(c.addOfficer))
	mux.Handle("POST /admin/officers/disable", c.auth(c.setDisabled))
	mux.Handle("POST /admin/units", c.auth(c.addUnit))
	mux.Handle("GET /kpi", c.auth(c.kpi))
	mux.Handle("GET /kpi.csv", c.auth(c.kpiCSV))
	mux.Handle("GET /export/tips.csv", c.auth(c.tipsCSV))
	mux.Handle("POST /tips/{code}/referrals/{id}/ack", c.auth(c.acknowledge))
	// The event stream bypasses LoadAndSave, which holds a response back
	// until the handler ends; it reads the session itself.
	outer := http.NewServeMux()
	outer.Handle("GET /queue/events", http.HandlerFunc(c.events))
	outer.Handle("GET /metrics", c.Metrics()) // for Prometheus: figures, no personal data

	outer.Handle("/", c.sm.LoadAndSave(c.csrf(mux)))
	return secured(outer)
}

// secured sets the headers every page carries: no script at all, no frames,
// no referrer, nothing cached (a report page on a shared computer).
func secured(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "+
			"img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// csrf refuses a state-changing request that does not carry the session's
// token, or that another site made the browser send (Origin, Sec-Fetch-Site).
func (c *Console) csrf(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
				c.fail(w, r, http.StatusForbidden, "console.err.csrf")
				return
			}
			// With Referrer-Policy: no-referrer a browser sends "Origin: null"
			// on its own forms; Sec-Fetch-Site and the token decide then.
			if o := r.Header.Get("Origin"); o != "" && o != "null" {
				if u, err := url.Parse(o); err != nil || u.Host != r.Host {
					c.fail(w, r, http.StatusForbidden, "console.err.csrf")
					return
				}
			}
			want := c.sm.GetString(r.Context(), "csrf")
			if want == "" || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(want)) != 1 {
				c.fail(w, r, http.StatusForbidden, "console.err.csrf")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// csrfToken returns the session's token, making one if needed.
func (c *Console) csrfToken(ctx context.Context) string {
	if t := c.sm.GetString(ctx, "csrf"); t != "" {
		return t
	}
	b := make([]byte, 32)
	rand.Read(b)
	t := base64.RawURLEncoding.EncodeToString(b)
	c.sm.Put(ctx, "csrf", t)
	return t
}

type ctxKey int

const officerKey ctxKey = iota

// auth lets signed-in officers through; a disabled account or a session
// from before "log out everywhere" is signed out.
func (c *Console) auth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := c.sm.GetString(r.Context(), "officer")
		if name == "" {
			if r.Method == http.MethodGet {
				// An alert's link to an urgent report opens that report
				// once the officer has signed in, not the queue.
				c.sm.Put(r.Context(), "after_login", r.URL.RequestURI())
			}
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		o, err := c.db.OfficerByName(r.Context(), name)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && (o.Disabled || o.Generation != c.sm.GetInt(r.Context(), "gen"))) {
			c.sm.Destroy(r.Context())
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
			return
		}
		if o.Role == "admin" && o.TOTPSecret == "" && !strings.HasPrefix(r.URL.Path, "/account/2fa") && r.URL.Path != "/logout" {
			http.Redirect(w, r, "/account/2fa", http.StatusSeeOther) // two-factor is required for admins
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), officerKey, o)))
	})
}

func officer(r *http.Request) storage.Officer {
	o, _ := r.Context().Value(officerKey).(storage.Officer)
	return o
}

// page is what every template gets.
type page struct {
	Officer storage.Officer
	CSRF    string
	Flash   string
	Refused string // what was not done, and why: not in a success's green
	Data    any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	p := page{Officer: officer(r), CSRF: c.csrfToken(r.Context()), Flash: c.sm.PopString(r.Context(), "flash"),
		Refused: c.sm.PopString(r.Context(), "refused"), Data: data}
	var b strings.Builder
	if err := c.pages[name].Execute(&b, p); err != nil {
		c.log.ErrorContext(r.Context(), "console render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, b.String())
}

// fail shows a plain page with a localised reason and a way back.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msgID string) {
	c.render(w, r, status, "error", c.cat.T(locales.Default, msgID, nil))
}

// flash says something on the next page.
func (c *Console) flash(r *http.Request, msgID string, data map[string]any) {
	c.sm.Put(r.Context(), "flash", c.cat.T(locales.Default, msgID, data))
}

// refuse goes back to the report's page and says there that what the
// officer asked was not done, and why, marked as such (a refusal in the
// success's green read as done; an error page led away from the report).
func (c *Console) refuse(w http.ResponseWriter, r *http.Request, t storage.Tip, msgID string) {
	c.sm.Put(r.Context(), "refused", c.cat.T(locales.Default, msgID, nil))
	http.Redirect(w, r, "/tips/"+t.Reference, http.StatusSeeOther)
}

// clientIP is the connection's address (the console is not behind a proxy).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// span says a duration in words, to the second under an hour and to the
// minute above: "1 phút 28 giây", "2 giờ 5 phút" (it read "1m28s").
func (c *Console) span(d time.Duration) string {
	t := func(id string, n int) string { return c.cat.T(locales.Default, id, map[string]any{"Count": n}) }
	if d = d.Round(time.Second); d >= time.Hour {
		d = d.Round(time.Minute)
		out := t("alert.age_hours", int(d.Hours()))
		if m := int(d.Minutes()) % 60; m > 0 {
			out += " " + t("alert.age_minutes", m)
		}
		return out
	}
	out := t("alert.age_seconds", int(d.Seconds())%60)
	if m := int(d.Minutes()); m > 0 {
		out = t("alert.age_minutes", m)
		if s := int(d.Seconds()) % 60; s > 0 {
			out += " " + t("alert.age_seconds", s)
		}
	}
	return out
}

// age says how long ago, roughly: "12 phút", "3 giờ", "2 ngày".
func (c *Console) age(t time.Time) string {
	d := time.Since(t)
	id, n := "alert.age_days", int(d.Hours()/24)
	switch {
	case d < time.Hour:
		id, n = "alert.age_minutes", int(d.Minutes())
	case d < 48*time.Hour:
		id, n = "alert.age_hours", int(d.Hours())
	}
	return c.cat.T(locales.Default, id, map[string]any{"Count": n})
}
