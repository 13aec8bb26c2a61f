package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"tinbao/flows"
	"tinbao/identity"
	"tinbao/locales"
	"tinbao/storage"
)

// config is every setting of DESIGN.md's Environment table, read once here.
// Only this package calls getenv.
type config struct {
	DatabaseURL string   // DATABASE_URL (required)
	RedisURL    string   // REDIS_URL (required)
	RedisPrefix string   // REDIS_KEY_PREFIX, default "tinbao:": deployments (and tests) can share a Redis
	HTTPAddr    string   // HTTP_ADDR, default 127.0.0.1:8080: webhooks, web chat, /healthz
	ConsoleAddr string   // CONSOLE_ADDR, default 127.0.0.1:8081: keep it off the internet
	ConsoleURL  string   // CONSOLE_URL, default http://CONSOLE_ADDR: links in officers' alerts
	PublicURL   *url.URL // PUBLIC_URL: Twilio signatures are computed over it, never over r.Host
	// TRUSTED_PROXY_HEADER: the header a reverse proxy sets to the client's
	// address (X-Forwarded-For, X-Real-IP); empty (default): the
	// connection's peer. Read for per-address limits only, never logged.
	TrustedProxyHeader string
	Keys               *identity.Keyring // TINBAO_SECRET (required)
	SessionIdle        time.Duration     // SESSION_IDLE, default 30m: then the next message asks whether to go on
	// ALARM_SILENCE, default 15m: a person who raised the alarm and wrote
	// nothing for this long without sending has their request filed.
	AlarmSilence time.Duration
	PanicWord    string // PANIC_WORD: typed alone, wipes the chat and gets a harmless answer
	// RESPONSE_HOURS, default 24: how soon a person can expect a human to
	// read a report, said in acknowledgements.
	ResponseHours int
	// STAFFED_HOURS, default 07:00-22:00 (Vietnam time; "24h" for around the
	// clock): outside them acknowledgements say when staff will read.
	StaffedFrom, StaffedTo int
	JoinWindow             time.Duration     // JOIN_WINDOW, default 4s: a message this soon after a free-text answer continues it (SMS)
	Hotlines               *locales.Hotlines // HOTLINES_FILE: numbers for people abroad; default the embedded list

	TelegramToken         string // TELEGRAM_BOT_TOKEN; empty = Telegram off
	TelegramAPIURL        string // TELEGRAM_API_URL, default https://api.telegram.org
	TelegramWebhookSecret string // TELEGRAM_WEBHOOK_SECRET; empty = long polling
	TelegramOfficerChatID int64  // TELEGRAM_OFFICER_CHAT_ID; 0 = no group alerts

	TwilioAccountSID string // TWILIO_ACCOUNT_SID
	TwilioAuthToken  string // TWILIO_AUTH_TOKEN
	TwilioFrom       string // TWILIO_FROM
	TwilioAPIURL     string // TWILIO_API_URL, default https://api.twilio.com

	SMSGateURL        string // SMSGATE_URL: the gateway's send endpoint; empty = off
	SMSGateUsername   string // SMSGATE_USERNAME
	SMSGatePassword   string // SMSGATE_PASSWORD
	SMSGateSigningKey string // SMSGATE_SIGNING_KEY: required with SMSGATE_URL
	SMSKeepMarks      bool   // SMS_DIACRITICS: "strip" (default, GSM-7) or "keep" (UCS-2)

	// RETAIN_*: how long each class of data is kept (README, Retention).
	Retention     storage.Retention
	Conversations time.Duration // RETAIN_CONVERSATIONS, default 24h: a conversation's state in Redis
	PurgeEvery    time.Duration // PURGE_EVERY, default 1h; 0 = the purge does not run inside serve

	LogLevel slog.Level // LOG_LEVEL: debug, info (default), warn or error
	secret   string     // TINBAO_SECRET as given, so the log can refuse to print it
}

// retentionDefaults are the safe defaults the README states.
var retentionDefaults = []struct {
	name, def, what string
	min             time.Duration
	field           func(*config) *time.Duration
}{
	{"RETAIN_CONVERSATIONS", "24h", "a conversation's state", time.Hour, func(c *config) *time.Duration { return &c.Conversations }},
	{"RETAIN_HANDLES", "30d", "the address to write back, after a report closes", 0, func(c *config) *time.Duration { return &c.Retention.Handles }},
	{"RETAIN_REPORTS", "730d", "a report's contents and media, after it closes", 24 * time.Hour, func(c *config) *time.Duration { return &c.Retention.Reports }},
	{"RETAIN_DELIVERY", "90d", "what was sent, and delivery receipts", 24 * time.Hour, func(c *config) *time.Duration { return &c.Retention.Delivery }},
	{"RETAIN_REPLIES", "2d", "conversational SMS replies", time.Hour, func(c *config) *time.Duration { return &c.Retention.Replies }},
	{"RETAIN_AUDIT", "1825d", "the audit log", storage.MinAuditRetention, func(c *config) *time.Duration { return &c.Retention.Audit }},
	{"PURGE_EVERY", "1h", "how often serve purges", 0, func(c *config) *time.Duration { return &c.PurgeEvery }},
}

// parseDays reads a duration that may also be given in whole days ("30d").
func parseDays(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 36500 {
			return 0, fmt.Errorf("%q is not a number of days", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

var (
	webhookSecretChars = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
	headerName         = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
)

// loadConfig reads and checks the environment, reporting every problem at
// once. need lists the required variables for the command being run.
func loadConfig(getenv func(string) string, need ...string) (config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	var errs []error
	c := config{
		DatabaseURL:           get("DATABASE_URL", ""),
		RedisURL:              get("REDIS_URL", ""),
		RedisPrefix:           get("REDIS_KEY_PREFIX", "tinbao:"),
		HTTPAddr:              get("HTTP_ADDR", "127.0.0.1:8080"),
		ConsoleAddr:           get("CONSOLE_ADDR", "127.0.0.1:8081"),
		TelegramToken:         get("TELEGRAM_BOT_TOKEN", ""),
		TelegramAPIURL:        strings.TrimRight(get("TELEGRAM_API_URL", "https://api.telegram.org"), "/"),
		TelegramWebhookSecret: get("TELEGRAM_WEBHOOK_SECRET", ""),
		TwilioAccountSID:      get("TWILIO_ACCOUNT_SID", ""),
		TwilioAuthToken:       get("TWILIO_AUTH_TOKEN", ""),
		TwilioFrom:            get("TWILIO_FROM", ""),
		TwilioAPIURL:          strings.TrimRight(get("TWILIO_API_URL", "https://api.twilio.com"), "/"),
		PanicWord:             get("PANIC_WORD", ""),
		SMSGateURL:            get("SMSGATE_URL", ""),
		SMSGateUsername:       get("SMSGATE_USERNAME", ""),
		SMSGatePassword:       get("SMSGATE_PASSWORD", ""),
		SMSGateSigningKey:     get("SMSGATE_SIGNING_KEY", ""),
	}
	for _, name := range need {
		if get(name, "") == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
	}
	if s := get("TINBAO_SECRET", ""); s != "" {
		c.secret = s
		kr, err := identity.ParseKeyring(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("TINBAO_SECRET: %w (make one with `head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'`)", err))
		}
		c.Keys = kr
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL", "info"))); err != nil {
		errs = append(errs, errors.New("LOG_LEVEL must be debug, info, warn or error"))
	}
	c.ConsoleURL = strings.TrimRight(get("CONSOLE_URL", "http://"+c.ConsoleAddr), "/")
	pub, err := url.Parse(get("PUBLIC_URL", "http://127.0.0.1:8080"))
	if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" {
		errs = append(errs, errors.New("PUBLIC_URL must be an absolute http(s) URL such as https://hotline.example"))
	} else {
		pub.Path = strings.TrimRight(pub.Path, "/")
		c.PublicURL = pub
	}
	c.SessionIdle, err = time.ParseDuration(get("SESSION_IDLE", "30m"))
	if err != nil || c.SessionIdle < time.Minute {
		errs = append(errs, errors.New("SESSION_IDLE must be a duration of at least 1m, such as 30m"))
	}
	c.AlarmSilence, err = time.ParseDuration(get("ALARM_SILENCE", "15m"))
	if err != nil || c.AlarmSilence < time.Second {
		errs = append(errs, errors.New("ALARM_SILENCE must be a duration such as 15m"))
	}
	switch get("SMS_DIACRITICS", "strip") {
	case "strip":
	case "keep":
		c.SMSKeepMarks = true
	default:
		errs = append(errs, errors.New(`SMS_DIACRITICS must be "strip" (GSM-7, 160 characters a segment) or "keep" (UCS-2, 70)`))
	}
	if c.SMSGateURL != "" {
		if u, err := url.Parse(c.SMSGateURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("SMSGATE_URL must be the gateway's send endpoint, such as http://192.0.2.10:8080/message"))
		}
		if c.SMSGateSigningKey == "" {
			errs = append(errs, errors.New("SMSGATE_SIGNING_KEY is required with SMSGATE_URL: set it to the app's Webhooks signing key"))
		}
	}
	c.ResponseHours, err = strconv.Atoi(get("RESPONSE_HOURS", "24"))
	if err != nil || c.ResponseHours < 1 || c.ResponseHours > 24*14 {
		errs = append(errs, errors.New("RESPONSE_HOURS must be a whole number of hours between 1 and 336, such as 24"))
	}
	if c.StaffedFrom, c.StaffedTo, err = parseStaffed(get("STAFFED_HOURS", "07:00-22:00")); err != nil {
		errs = append(errs, err)
	}
	c.JoinWindow, err = time.ParseDuration(get("JOIN_WINDOW", "4s"))
	if err != nil || c.JoinWindow < 0 || c.JoinWindow > time.Minute {
		errs = append(errs, errors.New("JOIN_WINDOW must be a duration between 0s and 1m, such as 4s"))
	}
	for _, r := range retentionDefaults {
		d, err := parseDays(get(r.name, r.def))
		if err != nil || d < r.min {
			errs = append(errs, fmt.Errorf("%s (%s) must be a duration of at least %v, such as %s (d = days)", r.name, r.what, r.min, r.def))
		}
		*r.field(&c) = d
	}
	if c.AlarmSilence >= c.Conversations/2 {
		// The person's words must still be in Redis when the alarm is due.
		errs = append(errs, errors.New("ALARM_SILENCE must be less than half of RETAIN_CONVERSATIONS"))
	}
	c.Hotlines = locales.DefaultHotlines()
	if path := get("HOTLINES_FILE", ""); path != "" {
		data, err := os.ReadFile(path)
		if err == nil {
			c.Hotlines, err = locales.ParseHotlines(data)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("HOTLINES_FILE: %w", err))
		}
	}
	if v := get("TELEGRAM_OFFICER_CHAT_ID", ""); v != "" {
		c.TelegramOfficerChatID, err = strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, errors.New("TELEGRAM_OFFICER_CHAT_ID must be a number such as -1001234567890"))
		}
	}
	if v := get("TRUSTED_PROXY_HEADER", ""); v != "" {
		switch {
		case !headerName.MatchString(v):
			errs = append(errs, errors.New("TRUSTED_PROXY_HEADER must be a header name such as X-Forwarded-For or X-Real-IP"))
		case strings.EqualFold(v, "Forwarded"):
			// RFC 7239's for= syntax is not read: say so rather than
			// count every client as one.
			errs = append(errs, errors.New("TRUSTED_PROXY_HEADER: Forwarded is not supported; have the proxy set X-Forwarded-For or X-Real-IP"))
		default:
			c.TrustedProxyHeader = http.CanonicalHeaderKey(v)
		}
	}
	if c.TelegramWebhookSecret != "" && !webhookSecretChars.MatchString(c.TelegramWebhookSecret) {
		errs = append(errs, errors.New("TELEGRAM_WEBHOOK_SECRET may hold only A-Z a-z 0-9 _ - (1 to 256 characters)"))
	}
	for _, u := range []struct{ name, v string }{{"TELEGRAM_API_URL", c.TelegramAPIURL}, {"TWILIO_API_URL", c.TwilioAPIURL}} {
		if p, err := url.Parse(u.v); err != nil || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s must be an absolute URL", u.name))
		}
	}
	return c, errors.Join(errs...)
}

// parseStaffed reads STAFFED_HOURS: "07:00-22:00" (may run past midnight,
// "22:00-06:00"), or "24h" for around the clock.
func parseStaffed(v string) (from, to int, err error) {
	if strings.EqualFold(v, "24h") || v == "00:00-24:00" {
		return 0, 0, nil
	}
	bad := errors.New(`STAFFED_HOURS must look like 07:00-22:00 (Vietnam time), or be "24h"`)
	a, b, ok := strings.Cut(v, "-")
	if !ok {
		return 0, 0, bad
	}
	minutes := func(s string) (int, bool) {
		t, err := time.Parse("15:04", strings.TrimSpace(s))
		if err != nil {
			return 0, false
		}
		return t.Hour()*60 + t.Minute(), true
	}
	from, ok1 := minutes(a)
	to, ok2 := minutes(b)
	if !ok1 || !ok2 || from == to {
		return 0, 0, bad
	}
	return from, to, nil
}

// flowOptions is the conversations' part of the configuration.
func (c config) flowOptions() flows.Options {
	o := flows.Options{Idle: c.SessionIdle, PanicWord: c.PanicWord, Join: c.JoinWindow,
		ResponseHours: c.ResponseHours, StaffedFrom: c.StaffedFrom, StaffedTo: c.StaffedTo, Hotlines: c.Hotlines,
		Forget: c.Conversations}
	if c.JoinWindow == 0 {
		o.Join = -1 // JOIN_WINDOW=0s: off
	}
	if c.PublicURL != nil {
		o.PrivacyURL = c.PublicURL.String() + "/privacy"
	}
	return o
}

// telegramOn reports whether the Telegram channel is configured.
func (c config) telegramOn() bool { return c.TelegramToken != "" }

// twilioOn reports whether Twilio is configured.
func (c config) twilioOn() bool {
	return c.TwilioAccountSID != "" && c.TwilioAuthToken != "" && c.TwilioFrom != ""
}

// smsgateOn reports whether the SMS gateway is configured.
func (c config) smsgateOn() bool { return c.SMSGateURL != "" }

// secrets are the configuration's values that no log line may hold: every
// password, token and key, and the passwords inside DATABASE_URL and
// REDIS_URL.
func (c config) secrets() []string {
	out := []string{c.secret, c.TelegramToken, c.TelegramWebhookSecret, c.TwilioAuthToken, c.SMSGatePassword, c.SMSGateSigningKey}
	for _, s := range strings.Split(c.secret, ",") {
		out = append(out, strings.TrimSpace(s))
	}
	for _, raw := range []string{c.DatabaseURL, c.RedisURL} {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

// LogValue says which settings are present, never their secret values.
func (c config) LogValue() slog.Value {
	set := func(s string) bool { return s != "" }
	return slog.GroupValue(
		slog.String("http_addr", c.HTTPAddr),
		slog.String("console_addr", c.ConsoleAddr),
		slog.String("public_url", c.PublicURL.String()),
		slog.String("trusted_proxy_header", c.TrustedProxyHeader),
		slog.Bool("telegram", c.telegramOn()),
		slog.Bool("telegram_webhook", set(c.TelegramWebhookSecret)),
		slog.Bool("telegram_officer_alerts", c.TelegramOfficerChatID != 0),
		slog.Bool("sms_twilio", c.twilioOn()),
		slog.Bool("sms_gateway", c.smsgateOn()),
		slog.Bool("sms_keep_marks", c.SMSKeepMarks),
		slog.Duration("session_idle", c.SessionIdle),
		slog.Duration("alarm_silence", c.AlarmSilence),
	)
}
