// Package delivery sends the outbox: every durable message to a person (the
// acknowledgement with the reference code first of all) is claimed from
// Postgres, sent through its channel, and marked, with retries and backoff.
// A message is sent at least once; it is never lost silently.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"tinbao/bot"
	"tinbao/identity"
	"tinbao/storage"
)

// Sender sends one text to a raw handle and returns the provider's message ID.
// The channel adapters implement it.
type Sender interface {
	SendText(ctx context.Context, handle, text string) (string, error)
}

// Config tunes the dispatcher; zero values take the defaults.
type Config struct {
	Poll        time.Duration // fallback poll when no notification comes; default 1s
	Lease       time.Duration // a claimed message not marked by then is claimed again; default 60s
	MaxAttempts int           // then the message fails for good; default 12
	Batch       int           // rows claimed at once; default 16
}

// Dispatcher drains the outbox.
type Dispatcher struct {
	db      *storage.DB
	keys    *identity.Keyring
	senders map[string]Sender
	log     *slog.Logger
	cfg     Config
	wake    chan struct{}
}

// New builds a dispatcher. senders maps a channel name to its sender; a
// channel without one keeps its messages queued (and says why) until it is
// configured or the attempts run out.
func New(db *storage.DB, keys *identity.Keyring, senders map[string]Sender, cfg Config, log *slog.Logger) *Dispatcher {
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 60 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 12
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 16
	}
	return &Dispatcher{db: db, keys: keys, senders: senders, log: log, cfg: cfg, wake: make(chan struct{}, 1)}
}

// Run sends until ctx ends. A send under way when ctx ends is finished and
// marked; everything else stays queued for the next start.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.listen(ctx)
	}()
	tick := time.NewTicker(d.cfg.Poll)
	defer tick.Stop()
	for {
		d.drain(ctx)
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-d.wake:
		case <-tick.C:
		}
	}
}

// listen turns Postgres notifications on channel "outbox" into wake-ups. It
// reconnects after errors; the poll covers any notification missed meanwhile.
func (d *Dispatcher) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := d.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		d.log.WarnContext(ctx, "outbox listener", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

func (d *Dispatcher) listenOnce(ctx context.Context) error {
	conn, err := d.db.Pool().Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection that has run LISTEN must not go back to the pool.
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	if _, err := pc.Exec(ctx, "LISTEN outbox"); err != nil {
		return err
	}
	for {
		if _, err := pc.WaitForNotification(ctx); err != nil {
			return err
		}
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// drain claims and sends until nothing is due.
func (d *Dispatcher) drain(ctx context.Context) {
	for ctx.Err() == nil {
		msgs, err := d.db.ClaimOutbox(ctx, d.cfg.Batch, d.cfg.Lease)
		if err != nil {
			if ctx.Err() == nil {
				d.log.WarnContext(ctx, "claim outbox", "err", err)
			}
			return
		}
		if len(msgs) == 0 {
			return
		}
		for _, m := range msgs {
			// Finish a send that has started even if shutdown begins.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			d.deliver(sctx, m)
			cancel()
		}
	}
}

func (d *Dispatcher) deliver(ctx context.Context, m storage.OutboxMessage) {
	log := d.log.With("outbox_id", m.ID, "tip_id", m.TipID, "channel", m.Channel, "kind", m.Kind, "attempt", m.Attempts)
	sender, ok := d.senders[m.Channel]
	if !ok {
		d.retry(ctx, log, m, d.backoff(m.Attempts), fmt.Sprintf("channel %s is not configured", m.Channel))
		return
	}
	handle, err := d.keys.Open(m.Channel, m.RecipientPseudonym, m.RecipientSealed)
	if err != nil {
		d.fail(ctx, log, m, "undeliverable", "recipient handle cannot be opened (key retired?)")
		return
	}
	providerID, err := sender.SendText(ctx, handle, m.Body)
	var retryAfter *bot.RetryAfterError
	switch {
	case err == nil:
		if err := d.db.MarkSent(ctx, m.ID, providerID); err != nil {
			// Sent but not marked: the lease runs out and it is sent again.
			// A duplicate acknowledgement beats a lost one.
			log.ErrorContext(ctx, "mark sent", "err", err)
			return
		}
		log.InfoContext(ctx, "outbox message sent", "provider_message_id", providerID)
	case errors.Is(err, bot.ErrUndeliverable):
		d.fail(ctx, log, m, "undeliverable", err.Error())
	case errors.As(err, &retryAfter) && retryAfter.After > 0:
		d.retry(ctx, log, m, retryAfter.After, err.Error())
	default:
		d.retry(ctx, log, m, d.backoff(m.Attempts), err.Error())
	}
}

func (d *Dispatcher) retry(ctx context.Context, log *slog.Logger, m storage.OutboxMessage, after time.Duration, reason string) {
	if m.Attempts >= d.cfg.MaxAttempts {
		d.fail(ctx, log, m, "failed", fmt.Sprintf("gave up after %d attempts: %s", m.Attempts, reason))
		return
	}
	log.WarnContext(ctx, "outbox message will be retried", "after", after, "reason", reason)
	if err := d.db.MarkRetry(ctx, m.ID, time.Now().Add(after), reason); err != nil {
		log.ErrorContext(ctx, "mark retry", "err", err)
	}
}

func (d *Dispatcher) fail(ctx context.Context, log *slog.Logger, m storage.OutboxMessage, status, reason string) {
	log.ErrorContext(ctx, "outbox message failed", "status", status, "reason", reason)
	if err := d.db.MarkFailed(ctx, m.ID, status, reason); err != nil {
		log.ErrorContext(ctx, "mark failed", "err", err)
	}
}

// backoff is exponential from 2 s, capped at 10 min, with ±20 % jitter so
// that many messages failing together do not retry together.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	base := 2 * time.Second << min(max(attempts-1, 0), 9)
	base = min(base, 10*time.Minute)
	jitter := time.Duration(rand.Int64N(int64(base)/5*2+1)) - base/5
	return base + jitter
}
