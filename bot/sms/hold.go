package sms

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Twilio never sends a webhook again: an SMS that could not be handled when
// it came (Postgres away) was lost unless the person wrote it again, which
// they were asked to. Now it is held in Redis, sealed, in order behind the
// sender's other held messages, and handled as soon as it can be: the
// person's answer comes late, but nothing they wrote is lost or answered out
// of turn. Only when Redis is away too is the person asked to send again.
// (The SMS gateway retries for two days: it needs none of this.)

// Held keeps, in order, each sender's SMS that are waiting to be handled
// (storage.Held, in Redis).
type Held interface {
	Hold(ctx context.Context, sender string, sealed []byte) error
	// Holding reports whether sender has messages waiting.
	Holding(ctx context.Context, sender string) (bool, error)
	// Senders lists the senders with messages waiting.
	Senders(ctx context.Context) ([]string, error)
	// Oldest returns sender's oldest waiting message, nil when none.
	Oldest(ctx context.Context, sender string) ([]byte, error)
	// Done removes sealed from the head of sender's messages if it is
	// still there.
	Done(ctx context.Context, sender string, sealed []byte) error
}

// HoldFor makes the adapter hold, in held, what it cannot handle now from
// the providers named (those that never retry a webhook). Call it before
// receiving messages, and run ReplayHeld.
func (a *Adapter) HoldFor(held Held, providers ...string) {
	a.held = held
	a.holdFor = map[string]bool{}
	for _, p := range providers {
		a.holdFor[p] = true
	}
}

// heldChannel separates held messages' seals from every other sealed
// handle's.
const heldChannel = "sms-held"

// MaxHeld is how long a held message is tried. Past it, it is dropped
// (logged) so that the sender's later messages are not held behind it for
// ever: a message that fails for an hour with the databases up is not
// going to be handled.
const MaxHeld = time.Hour

// heldMessage is what is sealed: the SMS, and when it was first held.
type heldMessage struct {
	In Inbound   `json:"in"`
	At time.Time `json:"at"`
}

// receiveOrHold handles in, or holds it: behind the sender's held messages,
// and when handling it failed.
func (a *Adapter) receiveOrHold(ctx context.Context, sender string, in Inbound) error {
	holding, err := a.held.Holding(ctx, sender)
	if err != nil {
		return err // Redis away: the person is asked to send again
	}
	if !holding {
		err := a.receive(ctx, in)
		if err == nil {
			return nil
		}
		a.log.WarnContext(ctx, "sms not handled now: held", "provider", in.Provider, "err", err)
	}
	if err := a.hold(ctx, sender, in); err != nil {
		return errors.Join(err, errors.New("sms: could not hold"))
	}
	return nil
}

func (a *Adapter) hold(ctx context.Context, sender string, in Inbound) error {
	raw, err := json.Marshal(heldMessage{In: in, At: time.Now()})
	if err != nil {
		return err
	}
	sealed, err := a.keys.Seal(heldChannel, sender, string(raw))
	if err != nil {
		return err
	}
	return a.held.Hold(ctx, sender, sealed)
}

// ReplayHeld handles held messages every interval until ctx ends, each
// sender's in order. Replicas may replay the same sender at once: a message
// is handled once (the runner drops a repeated message ID) and leaves the
// list only once handled, so order holds.
func (a *Adapter) ReplayHeld(ctx context.Context, interval time.Duration) {
	if a.held == nil {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.replay(ctx)
		}
	}
}

// replay handles what is held, sender by sender, up to a sender's first
// message that still cannot be handled. It returns how many were handled.
func (a *Adapter) replay(ctx context.Context) int {
	senders, err := a.held.Senders(ctx)
	if err != nil {
		return 0
	}
	handled := 0
	for _, sender := range senders {
		for ctx.Err() == nil {
			sealed, err := a.held.Oldest(ctx, sender)
			if err != nil {
				break
			}
			if sealed == nil {
				a.held.Done(ctx, sender, nil) // the list is gone: the sender leaves the set
				break
			}
			var m heldMessage
			raw, err := a.keys.Open(heldChannel, sender, sealed)
			if err == nil {
				err = json.Unmarshal([]byte(raw), &m)
			}
			if err != nil {
				a.log.ErrorContext(ctx, "held sms unreadable: dropped", "sender", sender, "err", err)
			} else if err := a.receive(ctx, m.In); err != nil {
				if time.Since(m.At) < MaxHeld {
					break // later, in order
				}
				a.log.ErrorContext(ctx, "held sms dropped after trying for an hour", "sender", sender,
					"provider", m.In.Provider, "err", err)
			} else {
				handled++
				a.log.InfoContext(ctx, "held sms handled", "sender", sender, "provider", m.In.Provider,
					"held_ms", time.Since(m.At).Milliseconds())
			}
			if err := a.held.Done(ctx, sender, sealed); err != nil {
				break
			}
		}
	}
	return handled
}
