package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"tinbao/bot"
	"tinbao/bot/sms"
	"tinbao/bot/sms/smsgate"
	"tinbao/bot/sms/twilio"
	"tinbao/bot/telegram"
	"tinbao/bot/web"
	"tinbao/delivery"
	"tinbao/flows"
	"tinbao/handlers"
	"tinbao/handlers/console"
	"tinbao/locales"
	"tinbao/media"
	"tinbao/storage"
)

// redisPinger adapts the Redis client to handlers.Pinger.
type redisPinger struct{ rdb redis.UniversalClient }

func (p redisPinger) Ping(ctx context.Context) error { return p.rdb.Ping(ctx).Err() }

// serve runs the service until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(getenv, "DATABASE_URL", "REDIS_URL", "TINBAO_SECRET")
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.secrets()...)
	// go-redis and the standard log package (libraries that print) write
	// through the same allow-list. Both are process-wide: the last service
	// started in a process owns them (only tests start several).
	redis.SetLogger(redisLogger{log})
	slog.SetDefault(log.With("component", "stdlib"))
	log.Info("starting", "config", cfg)

	db, err := openWithKeys(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	rdb, err := storage.OpenRedis(cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}

	cat, err := locales.Load()
	if err != nil {
		return err
	}
	// Sessions rest in Redis for a day; after SessionIdle without a message
	// the flows ask whether to go on or start again.
	sessions := storage.NewSessions(rdb, cfg.RedisPrefix, cfg.Conversations)
	engine := flows.New(cat, cfg.flowOptions())
	runner := bot.NewRunner(engine, sessionStore{sessions}, tipStore{db}, cfg.Keys, log)
	intake := newIntakeMetrics()
	runner.Observe(intake)
	runner.RecordDataRequests(dataStore{db})
	runner.WatchAlarms(alarmStore{db}, cfg.AlarmSilence)

	if cfg.telegramOn() && cfg.TelegramOfficerChatID != 0 {
		if err := runner.AlertOfficers(bot.ChannelTelegram, strconv.FormatInt(cfg.TelegramOfficerChatID, 10), cfg.ConsoleURL); err != nil {
			return err
		}
	}
	webChat := web.New(runner, cfg.Keys, sessions)
	webChat.TakeUploads(uploadStore{db})
	senders := map[string]delivery.Sender{bot.ChannelWeb: webChat}
	var tg *telegram.Adapter
	if cfg.telegramOn() {
		tg, err = telegram.New(telegram.Config{Token: cfg.TelegramToken, APIURL: cfg.TelegramAPIURL}, runner, cfg.Keys, log)
		if err != nil {
			return err
		}
		defer tg.Close()
		senders[bot.ChannelTelegram] = tg
		// Replies and the outbox share the bot's one budget.
		sessions.SpendRepliesOn(bot.ChannelTelegram, delivery.TelegramPace.Overall)
	} else {
		log.Info("telegram is off: TELEGRAM_BOT_TOKEN is empty")
	}
	smsHooks, err := wireSMS(cfg, runner, engine, db, storage.NewHeld(rdb, cfg.RedisPrefix), senders, log)
	if err != nil {
		return err
	}

	h, err := handlers.New(handlers.Config{
		TelegramWebhookSecret: cfg.TelegramWebhookSecret,
		SecureCookies:         cfg.PublicURL.Scheme == "https",
		SMS:                   smsHooks,
		TrustedProxyHeader:    cfg.TrustedProxyHeader,
	}, tg, webChat, cat, map[string]handlers.Pinger{"postgres": db, "redis": redisPinger{rdb}}, log)
	if err != nil {
		return err
	}
	public := newHTTPServer(h.Public(), log)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
	}
	collectors := intake.collectors()
	if smsHooks != nil {
		collectors = append(collectors, heldCollectors(smsHooks.Adapter)...)
	}
	con, err := console.New(console.Config{SecureCookies: strings.HasPrefix(cfg.ConsoleURL, "https://"),
		Collectors: collectors}, db, engine, cat, sessions, log)
	if err != nil {
		ln.Close()
		return err
	}
	consoleSrv := newHTTPServer(h.Logged(con.Handler()), log)
	cln, err := net.Listen("tcp", cfg.ConsoleAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("CONSOLE_ADDR: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Go(func() {
		if err := public.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
			cancel()
		}
	})
	wg.Go(func() { con.Run(ctx) })
	wg.Go(func() {
		if err := consoleSrv.Serve(cln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("console: %w", err)
			cancel()
		}
	})
	dispatcher := delivery.New(db, cfg.Keys, senders, delivery.Config{
		Limiter: sessions,
		Threads: sessions,
		Paces:   map[string]delivery.Pace{bot.ChannelTelegram: delivery.TelegramPace, bot.ChannelSMS: delivery.SMSPace},
	}, log)
	wg.Go(func() { dispatcher.Run(ctx) })
	wg.Go(func() { runPurge(ctx, db, cfg.Retention, cfg.PurgeEvery, log) })
	wg.Go(func() { sweepAlarms(ctx, runner, cfg.AlarmSilence, log) })
	if smsHooks != nil {
		wg.Go(func() { smsHooks.Adapter.ReplayHeld(ctx, time.Second) })
	}
	downloaders := map[string]media.Downloader{}
	if tg != nil {
		downloaders[bot.ChannelTelegram] = telegramFiles{tg}
	}
	fetcher := media.NewFetcher(db, downloaders, media.FetcherConfig{}, log)
	wg.Go(func() { fetcher.Run(ctx) })
	if cfg.telegramOn() && cfg.TelegramOfficerChatID != 0 {
		sealed, err := cfg.Keys.Seal(bot.ChannelTelegram, bot.OfficersPseudonym, strconv.FormatInt(cfg.TelegramOfficerChatID, 10))
		if err != nil {
			return err
		}
		alerter := delivery.NewAlerter(db, engine, storage.Alert{Channel: bot.ChannelTelegram,
			Pseudonym: bot.OfficersPseudonym, Sealed: sealed}, cfg.ConsoleURL, log)
		wg.Go(func() { alerter.Run(ctx) })
	} else {
		log.Info("officer alerts are off: TELEGRAM_OFFICER_CHAT_ID is empty")
	}
	if tg != nil {
		if cfg.TelegramWebhookSecret != "" {
			wg.Go(func() {
				setWebhook(ctx, tg, cfg.PublicURL.String()+"/webhooks/telegram", cfg.TelegramWebhookSecret, log)
			})
		} else {
			log.Info("telegram: long polling (set TELEGRAM_WEBHOOK_SECRET for webhook mode)")
			wg.Go(func() { tg.Poll(ctx) })
		}
	}
	fmt.Fprintf(stdout, "tinbao is listening on http://%s (web chat: /chat; health: /healthz, /readyz); officers' console on http://%s\n",
		ln.Addr(), cln.Addr())
	log.Info("listening", "http_addr", ln.Addr().String(), "console_addr", cln.Addr().String())

	<-ctx.Done()
	log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer scancel()
	if err := public.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if err := consoleSrv.Shutdown(sctx); err != nil {
		log.Warn("console shutdown", "err", err)
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// newHTTPServer is a listener's server, with timeouts that a slow or
// stalled client cannot hold open.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn),
	}
}

// openMigrated opens the database and refuses one that lacks migrations.
func openMigrated(ctx context.Context, url string) (*storage.DB, error) {
	db, err := storage.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := db.CheckMigrated(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// wireSMS builds the SMS channel from the providers that are configured
// (none: the channel is off and its webhooks answer 404).
func wireSMS(cfg config, runner *bot.Runner, engine *flows.Engine, db *storage.DB, held sms.Held,
	senders map[string]delivery.Sender, log *slog.Logger) (*handlers.SMS, error) {
	if !cfg.twilioOn() && !cfg.smsgateOn() {
		log.Info("sms is off: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM, or SMSGATE_URL")
		return nil, nil
	}
	adapter := sms.New(runner, cfg.Keys, db, cfg.SMSKeepMarks, log)
	hooks := &handlers.SMS{Adapter: adapter, Receipts: db, PublicURL: cfg.PublicURL.String(),
		Busy:  adapter.Compose([]flows.Reply{{Text: engine.Text(locales.Default, "common.busy_sms")}}),
		Later: adapter.Compose([]flows.Reply{{Text: engine.Text(locales.Default, "common.held_sms")}})}
	if cfg.twilioOn() {
		tw, err := twilio.New(twilio.Config{AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken,
			From: cfg.TwilioFrom, APIURL: cfg.TwilioAPIURL, StatusCallback: cfg.PublicURL.String() + "/webhooks/twilio/status"})
		if err != nil {
			return nil, err
		}
		adapter.AddProvider(twilio.Name, tw)
		adapter.HoldFor(held, db.Ping, twilio.Name) // Twilio never sends a webhook again
		hooks.TwilioToken = cfg.TwilioAuthToken
	}
	if cfg.smsgateOn() {
		adapter.AddProvider(smsgate.Name, smsgate.New(smsgate.Config{URL: cfg.SMSGateURL,
			Username: cfg.SMSGateUsername, Password: cfg.SMSGatePassword}))
		hooks.GatewayKey = cfg.SMSGateSigningKey
	}
	runner.DeliverDurably(bot.ChannelSMS, replyQueue{db}, adapter.Compose)
	senders[bot.ChannelSMS] = adapter
	log.Info("sms is on", "twilio", cfg.twilioOn(), "gateway", cfg.smsgateOn())
	return hooks, nil
}

// setWebhook tells Telegram where to deliver updates, retrying until it
// succeeds: Telegram may be unreachable when the service starts.
func setWebhook(ctx context.Context, tg *telegram.Adapter, url, secret string, log *slog.Logger) {
	wait := time.Second
	for {
		err := tg.SetWebhook(ctx, url, secret)
		if err == nil {
			log.Info("telegram webhook set", "url", url)
			return
		}
		log.Warn("telegram webhook not set yet", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Minute)
	}
}

// openKeyed is the start of the maintenance commands (purge, keys rotate
// --rewrap): the configuration, and the migrated database with its keys.
func openKeyed(ctx context.Context, getenv func(string) string) (config, *storage.DB, error) {
	cfg, err := loadConfig(getenv, "DATABASE_URL", "TINBAO_SECRET")
	if err != nil {
		return config{}, nil, err
	}
	db, err := openWithKeys(ctx, cfg)
	if err != nil {
		return config{}, nil, err
	}
	return cfg, db, nil
}

// openWithKeys opens the migrated database with the configured keys, and
// refuses keys that cannot read what it holds (storage.DB.CheckKeys).
func openWithKeys(ctx context.Context, cfg config) (*storage.DB, error) {
	db, err := openMigrated(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	db.SetKeys(cfg.Keys)
	if err := db.CheckKeys(ctx, cfg.Keys); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// sweepAlarms files the requests of people who raised the alarm and went
// silent (bot.Runner.SweepAlarms), looking a few times per silence, at most
// every 30 s.
func sweepAlarms(ctx context.Context, runner *bot.Runner, silence time.Duration, log *slog.Logger) {
	t := time.NewTicker(min(30*time.Second, max(silence/4, 100*time.Millisecond)))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := runner.SweepAlarms(ctx); err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, "alarm sweep", "err", err)
			}
		}
	}
}
