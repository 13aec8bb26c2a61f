package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// keyRule says how an attribute's value may appear in the log.
type keyRule int

const (
	// plain: the value is logged as it is, if it is a scalar (string,
	// number, bool, duration, time); anything else is dropped.
	plain keyRule = iota + 1
	// scrubbed: free text that may quote the outside world (an error from a
	// provider or a library): logged as a string, shortened, with numbers of
	// seven digits or more, e-mail addresses, IP addresses (but loopback), URL credentials,
	// known secrets and reference codes taken out (see scrubber).
	scrubbed
	// group: the name of a group (or of a slog.LogValuer that resolves to
	// one); its members go through this list one by one.
	group
)

// logKeys is the allow-list of log attributes: every other attribute keeps
// its key, so a developer sees what was dropped, and its value becomes
// droppedValue. A key is here only if its value cannot tell who a person
// is, what they wrote, or how to reach them. Two safe keys together can
// still be unsafe: "reference" and "sender" never share a line (a code next
// to a pseudonym ties a report to a person across the logs); the handler
// enforces that too, keeping whichever came first.
var logKeys = map[string]keyRule{
	// Correlation: random or internal identifiers.
	"request_id":          plain, // random per HTTP request (handlers.newRequestID)
	"message_id":          plain, // the provider's ID of one message (update ID, MessageSid, event ID) or the web page's random one: names no one
	"update_id":           plain, // Telegram's counter of updates to the bot
	"outbox_id":           plain, // a row of our outbox
	"tip_id":              plain, // a row of our tips: internal, never shown to anyone outside
	"provider_message_id": plain, // the SID/ID a provider gave our outgoing message
	"sender":              plain, // a keyed HMAC pseudonym (identity.Pseudonym), never the chat ID or number; never beside "reference"
	"reference":           plain, // a report's code: random, encodes nothing; never beside "sender"
	// What happened, in our own words.
	"channel":     plain, // telegram, sms, web
	"provider":    plain, // twilio, smsgate
	"kind":        plain, // tip / help, or an outbox message's kind
	"urgent":      plain, // bool
	"status":      plain, // an HTTP status or an outbox state
	"attempt":     plain, // a delivery attempt's number
	"after":       plain, // a retry delay
	"count":       plain, // how many
	"duration_ms": plain, // how long a request took
	"event":       plain, // the gateway's event type (sms:received, …)
	"dependency":  plain, // postgres / redis, in readiness
	"page":        plain, // a console template's name
	"action":      plain, // an audit action's name (tip.viewed, …)
	"method":      plain, // HTTP method
	"component":   plain, // which library wrote a foreign line: redis, http
	"stack":       plain, // a panic's stack: our code's frames and hex words, no data
	// Fetched attachments: our row, the type, sizes, a retry delay; never the
	// provider's file ID or URL.
	"media_id":        plain,
	"content_type":    plain,
	"bytes":           plain,
	"cleaned":         plain,
	"retry_in":        plain,
	"data_request_id": plain, // a row of our data_requests
	"limit":           plain, // which lookup limit refused (lookup, lookup-address, lookup-code, lookups), never its key
	// The purge's counts, by data class (numbers only).
	"reports":  plain,
	"handles":  plain,
	"delivery": plain,
	"replies":  plain,
	"audit":    plain,
	// Start-up: the configuration says which settings are present, never a
	// secret (config.LogValue).
	"config":                  group,
	"message":                 group, // bot.Message.LogValue: channel, sender, message_id; never text or the handle
	"http_addr":               plain,
	"console_addr":            plain,
	"public_url":              scrubbed,
	"telegram":                plain,
	"telegram_webhook":        plain,
	"telegram_officer_alerts": plain,
	"sms_twilio":              plain,
	"sms_gateway":             plain,
	"sms_keep_marks":          plain,
	"session_idle":            plain,
	"alarm_silence":           plain,
	"outcome":                 plain, // an alarm's: reported, dropped, filed
	"trusted_proxy_header":    plain, // a header name (X-Forwarded-For), not an address
	"twilio":                  plain,
	"gateway":                 plain,
	// Free text from outside: errors (a provider's error body may quote the
	// number or the text it refused), a send's reason, a recovered panic,
	// a URL, a request's path (attacker-chosen on the public listener; on
	// the console it names the report an officer opened, with no sender).
	"err":    scrubbed,
	"reason": scrubbed,
	"panic":  scrubbed,
	"url":    scrubbed,
	"path":   scrubbed,
}

// droppedValue replaces the value of an attribute that is not on logKeys.
const droppedValue = "[dropped]"

// maxFree is the most bytes of free text (an error, a foreign log line)
// kept in one value.
const maxFree = 400

// scrubber takes out of free text what could identify a person or open
// a door: it is the last line, after the code that logs chose not to log
// such things.
type scrubber struct {
	secrets *strings.Replacer // exact secrets from the configuration
}

var (
	// URL credentials: scheme://user:password@ → scheme://[redacted]@
	urlUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@`)
	// A Telegram bot token (also inside api.telegram.org/bot<token>/...).
	botToken = regexp.MustCompile(`\d{5,}:[A-Za-z0-9_-]{30,}`)
	email    = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)
	// An IPv4 address (a web chat user's, in the HTTP server's own lines);
	// loopback is kept, it says "this machine".
	ipv4 = regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}\b`)
	// A bracketed IPv6 address, as in a host:port.
	ipv6 = regexp.MustCompile(`\[[0-9A-Fa-f:.%a-z]*:[0-9A-Fa-f:.%a-z]*\]`)
	// Runs of digits with the separators people and providers write phone
	// numbers with; replaced when they hold seven digits or more (phone
	// numbers, chat and user IDs, IPv4 addresses).
	digits = regexp.MustCompile(`\+?\(?\d[\d .()\-/]*\d`)
	// A reference code in any spelling ParseReference reads: kept out of
	// free text, which may share a line with a sender's pseudonym.
	refCode = regexp.MustCompile(`(?i)\bTB[-_ ]?[0-9A-Z]{4}[-_ ]?[0-9A-Z]{4}\b`)
)

func newScrubber(secrets ...string) *scrubber {
	var pairs []string
	for _, s := range secrets {
		if len(s) >= 4 { // shorter would blank out ordinary words
			pairs = append(pairs, s, "[secret]")
			if e := url.QueryEscape(s); e != s {
				pairs = append(pairs, e, "[secret]")
			}
			if e := url.PathEscape(s); e != s {
				pairs = append(pairs, e, "[secret]")
			}
		}
	}
	return &scrubber{secrets: strings.NewReplacer(pairs...)}
}

// text returns s fit for the log.
func (s *scrubber) text(v string) string {
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	v = s.secrets.Replace(v)
	if !quiet(v) {
		v = scrubPatterns(v)
	}
	if len(v) > maxFree {
		cut := maxFree
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut--
		}
		v = v[:cut] + "…"
	}
	return v
}

// quiet reports whether no pattern of scrubPatterns can match v: each
// needs a digit, an '@', a '[' or, for a reference code, "tb" in any case.
// Most values (a log message, a request's path) have none of these and
// skip seven regexp scans (about 8 µs of each HTTP request's line).
func quiet(v string) bool {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9', c == '@', c == '[':
			return false
		case (c == 't' || c == 'T') && i+1 < len(v) && (v[i+1] == 'b' || v[i+1] == 'B'):
			return false
		}
	}
	return true
}

// scrubPatterns takes out what the patterns above find.
func scrubPatterns(v string) string {
	v = urlUserinfo.ReplaceAllString(v, "${1}[redacted]@")
	v = botToken.ReplaceAllString(v, "[secret]")
	v = email.ReplaceAllString(v, "[email]")
	v = ipv6.ReplaceAllString(v, "[ip]")
	v = ipv4.ReplaceAllStringFunc(v, func(m string) string {
		if strings.HasPrefix(m, "127.") {
			return m
		}
		return "[ip]"
	})
	v = refCode.ReplaceAllString(v, "[reference]")
	v = digits.ReplaceAllStringFunc(v, func(m string) string {
		n := 0
		for i := 0; i < len(m); i++ {
			if m[i] >= '0' && m[i] <= '9' {
				n++
			}
		}
		if n < 7 {
			return m
		}
		return "[number]"
	})
	return v
}

// allowHandler lets through only the attributes on logKeys (inside groups
// and LogValuers too), scrubs free text, and keeps a reference code and a
// sender's pseudonym off the same line.
type allowHandler struct {
	next  slog.Handler
	scrub *scrubber
	// seen says whether attributes attached with WithAttrs hold a sender
	// or a reference.
	seen pairing
}

type pairing struct{ sender, reference bool }

func newAllowHandler(next slog.Handler, scrub *scrubber) *allowHandler {
	return &allowHandler{next: next, scrub: scrub}
}

func (h *allowHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *allowHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	out := make([]slog.Attr, 0, len(as))
	for _, a := range as {
		out = append(out, c.filter(a, &c.seen))
	}
	c.next = h.next.WithAttrs(out)
	return &c
}

func (h *allowHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}

func (h *allowHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.scrub.text(r.Message), r.PC)
	seen := h.seen
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.filter(a, &seen))
		return true
	})
	return h.next.Handle(ctx, out)
}

// filter applies logKeys to one attribute.
func (h *allowHandler) filter(a slog.Attr, seen *pairing) slog.Attr {
	a.Value = a.Value.Resolve()
	rule := logKeys[a.Key]
	if a.Value.Kind() == slog.KindGroup {
		if a.Key != "" && rule != group { // "" is an inlined group
			return slog.String(a.Key, droppedValue)
		}
		members := a.Value.Group()
		out := make([]slog.Attr, 0, len(members))
		for _, m := range members {
			out = append(out, h.filter(m, seen))
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	}
	switch a.Key {
	case "sender":
		if seen.reference {
			return slog.String(a.Key, droppedValue)
		}
		seen.sender = true
	case "reference":
		if seen.sender {
			return slog.String(a.Key, droppedValue)
		}
		seen.reference = true
	}
	switch rule {
	case plain:
		switch a.Value.Kind() {
		case slog.KindAny, slog.KindLogValuer, slog.KindGroup:
			return slog.String(a.Key, droppedValue)
		}
		return a
	case scrubbed:
		return slog.String(a.Key, h.scrub.text(valueText(a.Value)))
	default:
		return slog.String(a.Key, droppedValue)
	}
}

func valueText(v slog.Value) string {
	if v.Kind() == slog.KindAny {
		if err, ok := v.Any().(error); ok && err != nil {
			return err.Error()
		}
		return fmt.Sprint(v.Any())
	}
	return v.String()
}

// newLogger is the service's logger: JSON lines on w, from level on,
// through the allow-list. secrets are values from the configuration that
// must never be written, whatever quotes them.
func newLogger(w io.Writer, level slog.Level, secrets ...string) *slog.Logger {
	return slog.New(newAllowHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}), newScrubber(secrets...)))
}

// redisLogger puts go-redis's own log lines (redis.SetLogger) in the JSON
// log, at warn level, as one scrubbed message: they are printf text that can
// hold addresses, and must never hold REDIS_URL's password.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	// go-redis passes context.Background() for its background work; the
	// message is scrubbed by the handler like every message.
	l.log.WarnContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)), "component", "redis")
}
