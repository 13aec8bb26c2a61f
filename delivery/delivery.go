// Package delivery sends the outbox: every durable message to a person (the
// acknowledgement with the reference code first of all), and every alert to
// the officers' group, is claimed from Postgres, paced, sent through its
// channel, and marked, with retries and backoff. A message is sent at least
// once; it is never lost silently.
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

// KeyedSender is a Sender that takes a key, the same on every retry of one
// message, so that a provider that knows keys (the SMS gateway) sends it once.
type KeyedSender interface {
	SendKeyed(ctx context.Context, handle, text, key string) (string, error)
}

// MenuSender is a Sender that can offer the menu again below a message to a
// reporter, so that an acknowledgement or a status notice is no dead end.
type MenuSender interface {
	SendWithMenu(ctx context.Context, handle, text, lang string) (string, error)
}

// ThreadMarker marks a reporter an officer writes to (Redis), so that the
// runner asks Postgres about open threads only for their free messages, not
// for everyone's.
type ThreadMarker interface {
	MarkThread(ctx context.Context, pseudonym string) error
}

// Limiter paces sends across every replica (Redis).
type Limiter interface {
	// Reserve asks for the next slot under key, one per interval: how long
	// to wait, and whether the slot is taken (false if it is further off
	// than maxWait).
	Reserve(ctx context.Context, key string, interval, maxWait time.Duration) (time.Duration, bool, error)
	// Hold keeps every replica from sending under key for d.
	Hold(ctx context.Context, key string, d time.Duration) error
	// Held says how much longer a hold on key lasts.
	Held(ctx context.Context, key string) (time.Duration, error)
}

// ShareLimiter is a Limiter whose channel budget is shared with the
// replies sent on the request path (they spend from it without waiting):
// the outbox reserves from what they leave, and while they are flowing it
// takes at most one slot per share, so that a person waiting for an answer
// comes first.
type ShareLimiter interface {
	ReserveShare(ctx context.Context, key string, interval, share, maxWait time.Duration) (time.Duration, bool, error)
}

// Pace is how fast one channel may send. Zero means no limit.
type Pace struct {
	PerRecipient time.Duration // between two messages to one person
	PerGroup     time.Duration // between two messages to the officers' group
	Overall      time.Duration // between any two messages of the channel, replies included
	// Share is the outbox's pace while replies are flowing (zero: no share
	// kept for replies). Needs a ShareLimiter.
	Share time.Duration
}

// SMSPace keeps an SMS gateway phone and its SIM within what carriers
// accept, and one person's texts in order: one a second to one
// number, five a second in all.
var SMSPace = Pace{PerRecipient: time.Second, Overall: time.Second / 5}

// TelegramPace follows the Bot API's limits: about one message a second per
// chat, twenty a minute per group, thirty a second in all, conversational
// replies included; while replies are flowing the outbox takes twenty of
// the thirty.
var TelegramPace = Pace{PerRecipient: time.Second, PerGroup: 3 * time.Second, Overall: time.Second / 30, Share: time.Second / 20}

// Config tunes the dispatcher; zero values take the defaults.
type Config struct {
	Poll        time.Duration   // fallback poll when no notification comes; default 1s
	Lease       time.Duration   // a claimed message not marked by then is claimed again; default 15s
	MaxAttempts int             // failed sends before a message fails for good; default 20 (about 4 hours)
	Workers     int             // messages sent at once; default 4
	MaxWait     time.Duration   // a send whose slot is further off goes back to the queue; default 2s
	Paces       map[string]Pace // per channel
	Limiter     Limiter         // nil: no pacing
	// Threads is told of each officer's message before it is sent (nil:
	// nobody; the reporter's answers are then not taken as replies).
	Threads ThreadMarker
}

// Dispatcher drains the outbox.
type Dispatcher struct {
	db      *storage.DB
	keys    *identity.Keyring
	senders map[string]Sender
	log     *slog.Logger
	cfg     Config

	mu    sync.Mutex
	woken chan struct{} // closed and replaced to wake every idle worker
}

// New builds a dispatcher. senders maps a channel name to its sender; a
// channel without one keeps its messages queued (and says why) until it is
// configured or the attempts run out.
func New(db *storage.DB, keys *identity.Keyring, senders map[string]Sender, cfg Config, log *slog.Logger) *Dispatcher {
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Lease <= 0 {
		// Short, so that a message claimed by a process that was killed is
		// sent again within seconds; one send is bounded well below it.
		cfg.Lease = 15 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 20
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 2 * time.Second
	}
	return &Dispatcher{db: db, keys: keys, senders: senders, log: log, cfg: cfg, woken: make(chan struct{})}
}

// Run sends until ctx ends. Each worker finishes the message it is sending
// and marks it; everything else stays queued for the next start.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { d.listen(ctx) })
	for range d.cfg.Workers {
		wg.Go(func() { d.work(ctx) })
	}
	wg.Wait()
}

func (d *Dispatcher) wake() {
	d.mu.Lock()
	close(d.woken)
	d.woken = make(chan struct{})
	d.mu.Unlock()
}

// idle waits for a notification, the poll, or the end.
func (d *Dispatcher) idle(ctx context.Context) {
	d.mu.Lock()
	woken := d.woken
	d.mu.Unlock()
	t := time.NewTimer(d.cfg.Poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-woken:
	case <-t.C:
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
		d.wake()
	}
}

// work claims one message at a time, so that a claim never waits behind
// other sends and its lease stays far longer than one send.
func (d *Dispatcher) work(ctx context.Context) {
	for ctx.Err() == nil {
		// A claim that reached Postgres must come back to us, shutdown or
		// not: an abandoned claim would wait out its lease.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		msgs, err := d.db.ClaimOutbox(cctx, 1, d.cfg.Lease)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				d.log.WarnContext(ctx, "claim outbox", "err", err)
			}
			d.idle(ctx)
			continue
		}
		if len(msgs) == 0 {
			d.idle(ctx)
			continue
		}
		// Finish a send that has started even if shutdown begins, well
		// within the lease.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Lease*2/3)
		d.deliver(sctx, msgs[0])
		cancel()
	}
}

func (d *Dispatcher) deliver(ctx context.Context, m storage.OutboxMessage) {
	log := d.log.With("outbox_id", m.ID, "tip_id", m.TipID, "channel", m.Channel, "kind", m.Kind, "attempt", m.Attempts)
	sender, ok := d.senders[m.Channel]
	if !ok {
		d.retry(ctx, log, m, d.backoff(m.Attempts), fmt.Sprintf("channel %s is not configured", m.Channel))
		return
	}
	handle, err := openHandle(d.keys, m)
	switch {
	case err != nil && identity.SealedByDataKey(m.RecipientSealed) && m.DataKey != nil:
		// The report's key is there but this replica cannot open it: a
		// rotation this replica has not been given yet. Try later.
		d.retry(ctx, log, m, d.backoff(m.Attempts), "data key wrapped by a master key this replica lacks")
		return
	case err != nil:
		d.fail(ctx, log, m, "undeliverable", "recipient handle cannot be opened (report erased, or key retired)")
		return
	}
	if !d.pace(ctx, log, m) {
		return
	}
	if m.Kind == "followup" && d.cfg.Threads != nil {
		// Marked before it is sent, so the answer cannot arrive first. Not
		// marked, the answer would be taken as a new message: try later.
		if err := d.cfg.Threads.MarkThread(ctx, m.RecipientPseudonym); err != nil {
			d.retry(ctx, log, m, d.backoff(m.Attempts), "thread mark: "+err.Error())
			return
		}
	}
	var providerID string
	if ms, ok := sender.(MenuSender); ok && (m.Kind == "ack" || m.Kind == "status") {
		providerID, err = ms.SendWithMenu(ctx, handle, m.Body, m.Language)
	} else if ks, ok := sender.(KeyedSender); ok {
		providerID, err = ks.SendKeyed(ctx, handle, m.Body, bot.OutboxKey(m.ID))
	} else {
		providerID, err = sender.SendText(ctx, handle, m.Body)
	}
	// Record what happened even if the send used up its time: an
	// unrecorded send is sent again when the lease runs out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var retryAfter *bot.RetryAfterError
	switch {
	case err == nil:
		if err := d.db.MarkSent(ctx, m.ID, m.Attempts, providerID); err != nil {
			// Sent but not marked: the lease runs out and it is sent again.
			// A duplicate acknowledgement beats a lost one.
			log.ErrorContext(ctx, "mark sent", "err", err)
			return
		}
		log.InfoContext(ctx, "outbox message sent", "provider_message_id", providerID)
	case errors.Is(err, bot.ErrOptedOut):
		d.failAt(ctx, log, slog.LevelInfo, m, "undeliverable", err.Error())
	case errors.Is(err, bot.ErrUndeliverable):
		d.fail(ctx, log, m, "undeliverable", err.Error())
	case errors.As(err, &retryAfter) && retryAfter.After > 0:
		// The provider is throttling us: every replica waits, and the
		// message keeps its attempts.
		if d.cfg.Limiter != nil {
			if herr := d.cfg.Limiter.Hold(ctx, m.Channel, retryAfter.After); herr != nil {
				log.WarnContext(ctx, "hold channel", "err", herr)
			}
		}
		log.WarnContext(ctx, "provider asks to wait", "after", retryAfter.After, "reason", err.Error())
		d.deferMsg(ctx, log, m, retryAfter.After, err.Error())
	default:
		d.retry(ctx, log, m, d.backoff(m.Attempts), err.Error())
	}
}

// pace waits for the message's slots: per recipient (or the officers'
// group) and for the whole channel. A slot further off than MaxWait sends
// the message back to the queue until then; pace then returns false.
func (d *Dispatcher) pace(ctx context.Context, log *slog.Logger, m storage.OutboxMessage) bool {
	p, ok := d.cfg.Paces[m.Channel]
	if !ok || d.cfg.Limiter == nil {
		return true
	}
	per := p.PerRecipient
	if m.RecipientPseudonym == bot.OfficersPseudonym {
		per = p.PerGroup
	}
	var wait time.Duration
	for _, slot := range []struct {
		key      string
		interval time.Duration
		share    time.Duration
	}{{m.Channel + ":" + m.RecipientPseudonym, per, 0}, {m.Channel, p.Overall, p.Share}} {
		if slot.interval <= 0 {
			continue
		}
		w, reserved, err := d.reserve(ctx, slot.key, slot.interval, slot.share)
		if err != nil {
			// Without Redis, send anyway: the provider's own 429 still
			// protects us, and a late acknowledgement is worse.
			log.WarnContext(ctx, "pace", "err", err)
			continue
		}
		if !reserved {
			d.deferMsg(ctx, log, m, w, "")
			return false
		}
		wait = max(wait, w)
	}
	if wait > 0 {
		time.Sleep(wait)
	}
	// The provider may have said "wait" while we waited for our slot.
	if held, err := d.cfg.Limiter.Held(ctx, m.Channel); err == nil && held > 0 {
		d.deferMsg(ctx, log, m, held, "")
		return false
	}
	return true
}

// reserve takes a slot under key, from the share the outbox keeps when its
// budget is shared with replies.
func (d *Dispatcher) reserve(ctx context.Context, key string, interval, share time.Duration) (time.Duration, bool, error) {
	if sl, ok := d.cfg.Limiter.(ShareLimiter); ok && share > 0 {
		return sl.ReserveShare(ctx, key, interval, share, d.cfg.MaxWait)
	}
	return d.cfg.Limiter.Reserve(ctx, key, interval, d.cfg.MaxWait)
}

func (d *Dispatcher) deferMsg(ctx context.Context, log *slog.Logger, m storage.OutboxMessage, after time.Duration, reason string) {
	if err := d.db.Defer(ctx, m.ID, m.Attempts, time.Now().Add(after), reason); err != nil {
		log.ErrorContext(ctx, "defer", "err", err)
	}
}

func (d *Dispatcher) retry(ctx context.Context, log *slog.Logger, m storage.OutboxMessage, after time.Duration, reason string) {
	if m.Attempts >= d.cfg.MaxAttempts {
		d.fail(ctx, log, m, "failed", fmt.Sprintf("gave up after %d attempts: %s", m.Attempts, reason))
		return
	}
	log.WarnContext(ctx, "outbox message will be retried", "after", after, "reason", reason)
	if err := d.db.MarkRetry(ctx, m.ID, m.Attempts, time.Now().Add(after), reason); err != nil {
		log.ErrorContext(ctx, "mark retry", "err", err)
	}
}

func (d *Dispatcher) fail(ctx context.Context, log *slog.Logger, m storage.OutboxMessage, status, reason string) {
	d.failAt(ctx, log, slog.LevelError, m, status, reason)
}

// failAt ends a message, logged at level: an error for a fault; a message
// withheld because the person said STOP is their wish (info), and logged
// as an error it hid the faults that need someone.
func (d *Dispatcher) failAt(ctx context.Context, log *slog.Logger, level slog.Level, m storage.OutboxMessage, status, reason string) {
	log.Log(ctx, level, "outbox message failed", "status", status, "reason", reason)
	if err := d.db.MarkFailed(ctx, m.ID, m.Attempts, status, reason); err != nil {
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

// openHandle opens the address a message goes to: sealed under its report's
// data key (gone once the report is erased), or, for messages that belong to
// no report (conversational SMS replies, officers' alerts), by a master key.
func openHandle(keys *identity.Keyring, m storage.OutboxMessage) (string, error) {
	if !identity.SealedByDataKey(m.RecipientSealed) {
		return keys.Open(m.Channel, m.RecipientPseudonym, m.RecipientSealed)
	}
	dk, err := keys.UnwrapDataKey(m.TipReference, m.DataKey)
	if err != nil {
		return "", err
	}
	h, err := dk.Open(identity.HandlePurpose(m.Channel, m.RecipientPseudonym), m.RecipientSealed)
	return string(h), err
}
