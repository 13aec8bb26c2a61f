package sms

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"time"

	"tinbao/bot"
	"tinbao/flows"
	"tinbao/locales"
)

// Twilio never sends a webhook again: an SMS that could not be handled when
// it came (Postgres away) was lost unless the person wrote it again. So
// every SMS from such a provider goes first into a queue of its sender's,
// in Redis, sealed, and leaves it only once handled. Whoever holds the
// sender's lease handles the queue from its head: the request that brought
// the SMS, in the common case at once, or, for what it could not handle,
// a replayer that every replica runs. The person's answers may come late,
// but nothing they wrote is lost or answered out of turn, and nothing is
// handled twice: one lease per sender, and a message handled but not yet
// removed (a replica died between the two) is the runner's duplicate. Only
// with Redis away too is the person asked to send again. (The SMS gateway
// retries for two days until the effect is durable: it needs none of this.)

// Held is the queues, one per sender (storage.Held, in Redis).
type Held interface {
	// Push appends sealed to sender's queue and returns the queue's length.
	Push(ctx context.Context, sender string, sealed []byte) (int64, error)
	// Lease takes sender's lease under token and returns the head (nil:
	// empty); ok is false when another holds it.
	Lease(ctx context.Context, sender, token string, ttl time.Duration) (head []byte, ok bool, err error)
	// Next removes head (into the set-aside list when aside), renews the
	// lease, and returns the next head.
	Next(ctx context.Context, sender, token string, head []byte, aside bool, ttl time.Duration) ([]byte, error)
	// Unlease frees the lease; empty: the queue was seen empty.
	Unlease(ctx context.Context, sender, token string, empty bool) error
	// Senders lists the senders with a queue.
	Senders(ctx context.Context) ([]string, error)
	// Rescan finds queues whose sender the set lost (a safety net).
	Rescan(ctx context.Context) (int, error)
}

// ErrHeld means the SMS is kept, durable, and will be handled as soon as it
// can be: the provider must not be asked to retry, and the person is told
// that the answer comes late, with the emergency numbers: once, for the
// first of their SMS held (those queued behind it say nothing more), and
// for every cry for help.
var ErrHeld = errors.New("sms: held, to be handled later")

// HoldFor makes every SMS from the providers named go through held (see
// above). ready says whether a message can be handled now (Postgres
// answers): the replayer does not try while it cannot. Call it before
// receiving messages, and run ReplayHeld.
func (a *Adapter) HoldFor(held Held, ready func(context.Context) error, providers ...string) {
	a.held = held
	a.ready = ready
	a.holdFor = map[string]bool{}
	for _, p := range providers {
		a.holdFor[p] = true
	}
	a.failures = map[[32]byte]failure{}
}

// heldChannel keeps held messages' seals apart from every other sealed
// handle's.
const heldChannel = "sms-held"

// Times. A live request starts messages of its sender's queue for up to
// liveFor, each up to tryFor, and all within liveMax; what follows a
// message (freeing the sender's lock, removing it from the queue, freeing
// the lease) has up to 2 s each, only when Redis is that slow: within the
// 15 s Twilio waits for the webhook's answer even with Postgres hung. The
// replayer keeps a queue for up to replayFor. The lease outlives the
// longest of these (renewed with each message), so it cannot run out under
// a message still being handled; it runs out soon after a replica died
// holding it.
const (
	tryFor    = 6 * time.Second
	liveFor   = 2 * time.Second
	liveMax   = 8 * time.Second
	replayFor = 10 * time.Second
	leaseTTL  = 30 * time.Second
	// readyFor bounds asking whether Postgres answers: a hung one does not.
	readyFor = time.Second
	// maxReplayWait is the longest pause between rounds of the replayer
	// while messages keep failing.
	maxReplayWait = 30 * time.Second
	// rescanEvery: how often the replayer looks for queues the set of
	// senders lost.
	rescanEvery = 5 * time.Minute
)

// Set aside, never dropped. A message is set aside (kept in Redis for a
// week, sealed, and logged as an error) so that it cannot hold its sender's
// later ones back for ever: when it cannot be read; when it has failed
// poisonAfter times in a row in the replayer, each time with Postgres
// answering and for no reason of time, connection or lock, and is at least
// poisonAge old (a failover's errors are none of its fault, and it must
// not be set aside for them); or when it has waited maxHeldAge (the
// gateway too gives up after two days).
const (
	poisonAfter = 10
	poisonAge   = 15 * time.Minute
	maxHeldAge  = 48 * time.Hour
)

// heldMessage is what is sealed: the SMS, and when it came.
type heldMessage struct {
	In Inbound   `json:"in"`
	At time.Time `json:"at"`
}

// receiveHeld pushes in to its sender's queue and handles the queue if no
// one else is: nil once in is handled, or queued behind others; ErrHeld
// when in is still queued and is the first of a new backlog, or a cry for
// help; an error, when it could not be queued (Redis away). A STOP is never
// told anything: the person asked for silence, and the phone may be
// watched.
func (a *Adapter) receiveHeld(ctx context.Context, sender string, in Inbound) error {
	raw, err := json.Marshal(heldMessage{In: in, At: time.Now()})
	if err != nil {
		return err
	}
	sealed, err := a.keys.Seal(heldChannel, sender, string(raw))
	if err != nil {
		return err
	}
	n, err := a.held.Push(ctx, sender, sealed)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, liveMax)
	defer cancel()
	handled, err := a.drain(lctx, sender, liveFor, false, sealed)
	if err != nil {
		a.log.WarnContext(ctx, "sms not handled now: held", "sender", sender, "provider", in.Provider, "err", err)
	}
	if handled || keyword(in.Text) == kwStop || locales.Fold(in.Text) == "dung" {
		return nil
	}
	if n == 1 || flows.InDanger(in.Text) {
		// Still queued (Postgres away, another of their messages taking
		// the time): a cry for help is always told the emergency numbers
		// at once.
		return ErrHeld
	}
	return nil
}

// drain handles sender's queue from its head under the lease, starting
// messages for up to budget. It returns the error of the message it had to
// stop at (left at the head, for later), nil when the queue is empty, when
// another holds the lease, or when the budget ran out; and whether mine
// (nil: none) was handled. replaying: the replayer's, which alone may find
// a message poisonous.
func (a *Adapter) drain(ctx context.Context, sender string, budget time.Duration, replaying bool, mine []byte) (handled bool, err error) {
	token := newLeaseToken()
	head, ok, err := a.held.Lease(ctx, sender, token, leaseTTL)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, nil
	}
	stop := time.Now().Add(budget)
	for head != nil {
		if time.Now().After(stop) {
			a.unlease(ctx, sender, token, false)
			return handled, nil
		}
		aside, err := a.handleHeld(ctx, sender, head, replaying)
		if err != nil {
			a.unlease(ctx, sender, token, false)
			return handled, err
		}
		if aside {
			a.setAside.Add(1)
		} else if bytes.Equal(head, mine) {
			handled = true
		}
		// Removed even when ctx has ended: it was handled.
		nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		head, err = a.held.Next(nctx, sender, token, head, aside, leaseTTL)
		cancel()
		if err != nil {
			return handled, err // lease lost, or Redis away: the lease runs out
		}
	}
	a.unlease(ctx, sender, token, true)
	return handled, nil
}

func (a *Adapter) unlease(ctx context.Context, sender, token string, empty bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := a.held.Unlease(ctx, sender, token, empty); err != nil {
		a.log.WarnContext(ctx, "held sms unlease", "sender", sender, "err", err)
	}
}

// handleHeld handles one queued message: nil when done, aside when it is to
// be set aside instead (unreadable, too old or poisonous), an error when it
// stays at the head for later.
func (a *Adapter) handleHeld(ctx context.Context, sender string, sealed []byte, replaying bool) (aside bool, err error) {
	var m heldMessage
	raw, err := a.keys.Open(heldChannel, sender, sealed)
	if err == nil {
		err = json.Unmarshal([]byte(raw), &m)
	}
	if err != nil {
		a.log.ErrorContext(ctx, "held sms unreadable: set aside", "sender", sender, "err", err)
		return true, nil
	}
	tctx, cancel := context.WithTimeout(ctx, tryFor)
	err = a.receive(tctx, m.In)
	cancel()
	key := sha256.Sum256(sealed)
	if err == nil {
		a.succeeded(key)
		if wait := time.Since(m.At); wait > time.Second {
			a.log.InfoContext(ctx, "held sms handled", "sender", sender, "provider", m.In.Provider,
				"duration_ms", wait.Milliseconds())
		}
		return false, nil
	}
	if time.Since(m.At) > maxHeldAge {
		a.log.ErrorContext(ctx, "held sms set aside: too old", "sender", sender, "err", err)
		return true, nil
	}
	if replaying && time.Since(m.At) > poisonAge && a.poisonous(ctx, key, err) {
		a.log.ErrorContext(ctx, "held sms set aside: fails with Postgres answering", "sender", sender,
			"count", poisonAfter, "err", err)
		return true, nil
	}
	return false, err
}

// poisonous counts a failure of the message key, when it may say something
// about the message: not a time, connection or lock failure; Postgres
// answers; and another message was handled since this one last failed (a
// database that answers a ping but cannot write, a standby after a wrong
// failover or a full disk, fails every message alike, and none of them is
// at fault). It reports whether the message has now failed poisonAfter
// times. Counted per replica, in memory: a message is set aside a little
// later with several replicas, never sooner.
func (a *Adapter) poisonous(ctx context.Context, key [32]byte, err error) bool {
	var netErr net.Error
	if errors.Is(err, bot.ErrBusy) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.As(err, &netErr) || ctx.Err() != nil || !a.isReady(ctx) {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.failures) > 10_000 {
		clear(a.failures) // bounded: counting starts again
	}
	f := a.failures[key]
	now := time.Now()
	if !a.lastOK.After(f.last) {
		f.last = now
		a.failures[key] = f
		return false // nothing else goes through either
	}
	f.n++
	f.last = now
	if f.n >= poisonAfter {
		delete(a.failures, key)
		return true
	}
	a.failures[key] = f
	return false
}

// failure is a held message's failures in a row that count (poisonous).
type failure struct {
	n    int
	last time.Time
}

// succeeded notes that a message was handled: it fails no more, and the
// database writes.
func (a *Adapter) succeeded(key [32]byte) {
	a.mu.Lock()
	delete(a.failures, key)
	a.lastOK = time.Now()
	a.mu.Unlock()
}

// ReplayHeld handles the queues that requests left behind, every interval
// until ctx ends. No round starts while Postgres does not answer (asking
// costs one ping), so the queues go as soon as it is back; while messages
// fail with it answering, the pause doubles, up to maxReplayWait.
func (a *Adapter) ReplayHeld(ctx context.Context, interval time.Duration) {
	if a.held == nil {
		return
	}
	wait := interval
	t := time.NewTimer(wait)
	defer t.Stop()
	var rescanned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(rescanned) > rescanEvery {
			if n, err := a.held.Rescan(ctx); err == nil {
				rescanned = time.Now()
				a.log.DebugContext(ctx, "held sms queues", "count", n)
			}
		}
		if a.replay(ctx) {
			wait = min(2*wait, maxReplayWait)
		} else {
			wait = interval
		}
		t.Reset(wait)
	}
}

// HeldFigures are, for /metrics: how many senders had SMS waiting when the
// replayer last looked (every second), and how many SMS this replica set
// aside.
func (a *Adapter) HeldFigures() (waiting, setAside int64) {
	return a.waiting.Load(), a.setAside.Load()
}

// isReady says whether Postgres answers, within readyFor.
func (a *Adapter) isReady(ctx context.Context) bool {
	if a.ready == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, readyFor)
	defer cancel()
	return a.ready(ctx) == nil
}

// replay handles each queue it finds, in turn, and reports whether a
// message failed. Within a round, one sender's failing message holds back
// only that sender's queue (the pause after the round is everyone's); the
// round stops when Postgres stops answering.
func (a *Adapter) replay(ctx context.Context) (failed bool) {
	senders, err := a.held.Senders(ctx)
	if err != nil {
		return false
	}
	a.waiting.Store(int64(len(senders)))
	ready := func() bool { return a.isReady(ctx) }
	if !ready() {
		return false
	}
	for _, sender := range senders {
		if ctx.Err() != nil {
			return failed
		}
		if _, err := a.drain(ctx, sender, replayFor, true, nil); err != nil {
			a.log.WarnContext(ctx, "held sms still not handled", "sender", sender, "err", err)
			failed = true
			if !ready() {
				return failed
			}
		}
	}
	return failed
}

func newLeaseToken() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
