// Package sms is the SMS adapter: one adapter, several providers (Twilio,
// and a two-way SMS gateway on an Android phone inside Vietnam). A received
// SMS becomes a bot.Message; every SMS we send goes through the outbox, so
// each has a delivery state. Numbers are normalised to E.164, pseudonymised
// and sealed; they never reach a log or a column in clear.
package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nyaruka/phonenumbers"

	"tinbao/bot"
	"tinbao/flows"
	"tinbao/identity"
	"tinbao/locales"
)

// Provider sends SMS through one gateway. key is the same on every retry of
// one message, so a provider that knows keys sends it once.
type Provider interface {
	Send(ctx context.Context, to, text, key string) (providerID string, err error)
}

// ErrOptedOut is a provider's word that the number unsubscribed (Twilio
// 21610): nothing more is sent to it.
var ErrOptedOut = errors.New("sms: the number has opted out")

// OptOuts remembers numbers (by pseudonym) that wrote STOP.
type OptOuts interface {
	// at is when the provider received the message that asks (zero: no
	// provider time, applied as it comes, as is the provider's own word);
	// false: a later change is recorded, and this one is not applied.
	SetOptOut(ctx context.Context, pseudonym string, out bool, reason string, at time.Time) (bool, error)
	// OptedOut says whether the number opted out, and which outbox
	// message (0: none) is the notice that still goes.
	OptedOut(ctx context.Context, pseudonym string) (bool, int64, error)
	// OptOutWithNotice opts out and queues the one text that says so.
	OptOutWithNotice(ctx context.Context, channel, pseudonym string, sealed []byte, lang, body string, at time.Time) (bool, error)
}

// Opt-out reasons, as storage keeps them.
const (
	reasonStop     = "stop"
	reasonProvider = "provider"
)

// Inbound is one SMS a provider received.
type Inbound struct {
	Provider string // the provider's name, which is also the route back
	ID       string // the provider's ID for this delivery: dedupe key
	From     string // the sender's number as the provider gave it
	Text     string
	// At is when the provider received it, by the provider's clock (the
	// gateway's receivedAt); zero: unknown (Twilio gives none), and a STOP
	// or START applies in the order it reaches us.
	At time.Time `json:",omitzero"`
}

// A provider's time for an SMS is taken within this much ahead of our clock
// and this much behind (a gateway retries for days at most); outside, it is
// brought to the nearest bound, which never turns two of that provider's
// times around while its clock is off (as replacing it with ours could).
const (
	clockAhead    = 5 * time.Minute
	retriedWithin = 7 * 24 * time.Hour
)

// providerTime is when a provider received an SMS, by its clock, brought
// within our clock's bounds; zero stays zero (unknown: arrival order).
func providerTime(at time.Time) time.Time {
	if at.IsZero() {
		return at
	}
	now := time.Now()
	if latest := now.Add(clockAhead); at.After(latest) {
		return latest
	}
	if earliest := now.Add(-retriedWithin); at.Before(earliest) {
		return earliest
	}
	return at
}

// Adapter connects SMS providers to the bot runner.
type Adapter struct {
	runner    *bot.Runner
	keys      *identity.Keyring
	optouts   OptOuts
	providers map[string]Provider
	keepMarks bool
	log       *slog.Logger
	// held: every SMS from the providers in holdFor is queued before it
	// is handled (hold.go); ready says whether Postgres answers.
	held     Held
	holdFor  map[string]bool
	ready    func(context.Context) error
	mu       sync.Mutex
	failures map[[32]byte]failure // held messages' failures in a row
	lastOK   time.Time            // when a held message was last handled
	waiting  atomic.Int64         // senders with SMS waiting, as last seen
	setAside atomic.Int64
}

// New builds the adapter. keepMarks sends Vietnamese as written (UCS-2, 70
// characters a segment); otherwise without marks (GSM-7, 160).
func New(runner *bot.Runner, keys *identity.Keyring, optouts OptOuts, keepMarks bool, log *slog.Logger) *Adapter {
	a := &Adapter{runner: runner, keys: keys, optouts: optouts, providers: map[string]Provider{}, keepMarks: keepMarks, log: log}
	// "dung" with no request under way is the opt-out word after all:
	// only the flows know, and the runner records it before the message
	// counts as handled.
	runner.OptOutWith(bot.ChannelSMS, a.optOutTold)
	return a
}

// optOutTold stops the messages to the sender of m and, when there is a
// notice, queues it as the one text that still goes: "dung" typed without
// marks may have meant "đúng" (yes), and the person must know they will
// hear nothing more and how to undo it (a mother who meant yes was cut off
// for good, with nothing said: SMS trial).
func (a *Adapter) optOutTold(ctx context.Context, m bot.Message, lang string, notice []flows.Reply) error {
	if len(notice) == 0 {
		return a.optOut(ctx, m.Sender, m.Received)
	}
	sealed, err := a.keys.Seal(bot.ChannelSMS, m.Sender, m.Handle)
	if err != nil {
		return err
	}
	applied, err := a.optouts.OptOutWithNotice(ctx, bot.ChannelSMS, m.Sender, sealed, lang, a.Compose(notice), m.Received)
	if err != nil {
		return err
	}
	a.logConsent(ctx, "sms opt-out", m.Sender, applied, "notice", true)
	return nil
}

// AddProvider makes a provider available under name ("twilio", "smsgate").
// A person writing to a provider's number is answered through it.
func (a *Adapter) AddProvider(name string, p Provider) { a.providers[name] = p }

// Compose renders a turn's replies as the one SMS that carries them.
func (a *Adapter) Compose(replies []flows.Reply) string { return Compose(replies, a.keepMarks) }

// Normalize writes a number in E.164 (Vietnamese numbers without the
// country code are read as such); what is no valid number is kept as sent,
// without spaces, so that a reply still finds its way.
func Normalize(raw string) string {
	raw = strings.TrimSpace(raw)
	if n, err := phonenumbers.Parse(raw, "VN"); err == nil && phonenumbers.IsValidNumber(n) {
		return phonenumbers.Format(n, phonenumbers.E164)
	}
	return strings.Join(strings.Fields(raw), "")
}

// handle is the sealed address of a sender: the provider to answer through
// and the number. Each provider is its own channel for sessions and replies.
func handle(provider, number string) string { return provider + ":" + number }

func (a *Adapter) pseudonym(h string) string { return a.keys.Pseudonym(bot.ChannelSMS, h) }

// elsewhere are the pseudonyms of number through the other providers. A
// conversation stays with the number it was written to, but the phone is the
// same person's: a code got through one number is theirs to look up, or to
// ask about their data, through the other (the gateway at home, Twilio
// from abroad).
func (a *Adapter) elsewhere(provider, number string) []string {
	var also []string
	for _, name := range slices.Sorted(maps.Keys(a.providers)) {
		if name != provider {
			also = append(also, a.pseudonym(handle(name, number)))
		}
	}
	return also
}

// Receive handles one received SMS: the opt-out keywords here, everything
// else through the runner, whose replies are queued in the outbox. An error
// means nothing durable happened: answer so that the provider retries; but
// ErrHeld means it is kept and will be handled later (HoldFor).
func (a *Adapter) Receive(ctx context.Context, in Inbound) error {
	if _, ok := a.providers[in.Provider]; !ok {
		return fmt.Errorf("sms: unknown provider %q", in.Provider)
	}
	if a.holdFor[in.Provider] {
		return a.receiveHeld(ctx, a.pseudonym(handle(in.Provider, Normalize(in.From))), in)
	}
	return a.receive(ctx, in)
}

// receive handles one received SMS now.
func (a *Adapter) receive(ctx context.Context, in Inbound) error {
	number := Normalize(in.From)
	h := handle(in.Provider, number)
	sender := a.pseudonym(h)
	m := bot.Message{
		Channel:   bot.ChannelSMS,
		Sender:    sender,
		Also:      a.elsewhere(in.Provider, number),
		Handle:    h,
		MessageID: in.Provider + ":" + in.ID,
		Text:      in.Text,
		Received:  providerTime(in.At),
	}
	// STOP and START are applied once, in turn with the person's other
	// messages (Once), and, where the provider says when it received them
	// (the gateway), only if no later one was: a STOP the gateway delivers
	// again after the person's START, even a day later, does not stop them
	// again. Without a time (Twilio, which never retries), in arrival order.
	switch keyword(in.Text) {
	case kwStop:
		return a.runner.Once(ctx, m, func(ctx context.Context) error { return a.optOut(ctx, sender, m.Received) })
	case kwStart:
		err := a.runner.Once(ctx, m, func(ctx context.Context) error { return a.optIn(ctx, sender, m.Received) })
		if err != nil {
			return err
		}
		// Then, as a new message, START answers what was written while
		// stopped (its own ID, so the two never collide).
		m.MessageID += ":start"
	default:
		// A call for help ends an opt-out as START does: whoever holds the
		// phone now is asking for help, and silence would leave them without
		// even the emergency numbers (the STOP may not have been theirs).
		if flows.InDanger(in.Text) {
			out, _, err := a.optouts.OptedOut(ctx, sender)
			if err != nil {
				return err
			}
			if out {
				// Once: a cry the gateway retries after the person's
				// later STOP must not undo it.
				optIn := m
				optIn.MessageID += ":optin"
				err := a.runner.Once(ctx, optIn, func(ctx context.Context) error {
					return a.optIn(ctx, sender, m.Received, "by", "call for help")
				})
				if err != nil {
					return err
				}
			}
		}
	}
	_, err := a.runner.Handle(ctx, m)
	return err
}

// optOut stops every SMS to the sender until they write START. No answer:
// the phone may be watched, and the person asked for silence.
func (a *Adapter) optOut(ctx context.Context, sender string, at time.Time) error {
	applied, err := a.optouts.SetOptOut(ctx, sender, true, reasonStop, at)
	if err != nil {
		return err
	}
	a.logConsent(ctx, "sms opt-out", sender, applied)
	return nil
}

// optIn lets SMS go to the sender again (START, or a call for help).
func (a *Adapter) optIn(ctx context.Context, sender string, at time.Time, logArgs ...any) error {
	applied, err := a.optouts.SetOptOut(ctx, sender, false, reasonStop, at)
	if err != nil {
		return err
	}
	a.logConsent(ctx, "sms opt-in", sender, applied, logArgs...)
	return nil
}

// logConsent logs a change of consent, or that it came after a later one
// and changed nothing.
func (a *Adapter) logConsent(ctx context.Context, msg, sender string, applied bool, args ...any) {
	if !applied {
		msg += " older than the last STOP or START: not applied"
	}
	a.log.InfoContext(ctx, msg, append([]any{"sender", sender}, args...)...)
}

type kw int

const (
	kwNone kw = iota
	kwStop
	kwStart
)

// keyword finds the opt-out words of the contract that mean nothing else.
// "DUNG" is one too, but typed without marks it may also mean "đúng" (yes):
// the flows stop the messages with one text that says how to undo it
// (flows.Result.OptOut), keeping a draft under way.
func keyword(text string) kw {
	// With its marks, however the phone composed them, only "stop".
	if strings.ToLower(strings.TrimRight(strings.TrimSpace(locales.NFC(text)), ".!")) == "dừng" {
		return kwStop
	}
	switch locales.Fold(text) {
	case "stop", "huy dang ky", "unsubscribe", "dung lai", "ngung", "ngung lai", "ngung nhan tin", "dung nhan tin",
		"dung nhan", "ngung nhan":
		// "dừng lại", "ngừng nhắn tin": unmistakably stop, with or without
		// marks (a victim's DUNG LAI was answered with the menu: SMS trial).
		return kwStop
	case "start", "bat dau":
		return kwStart
	}
	return kwNone
}

// SendText sends a durable message to a handle; see SendKeyed.
func (a *Adapter) SendText(ctx context.Context, h, text string) (string, error) {
	return a.SendKeyed(ctx, h, text, "")
}

// SendKeyed sends one durable message (from the outbox) to a handle through
// the provider the person wrote to, never to a number that opted out.
func (a *Adapter) SendKeyed(ctx context.Context, h, text, key string) (string, error) {
	name, number, ok := strings.Cut(h, ":")
	p, known := a.providers[name]
	if !ok || number == "" {
		return "", fmt.Errorf("%w: malformed sms handle", bot.ErrUndeliverable)
	}
	if !known {
		return "", fmt.Errorf("sms: provider %s is not configured", name) // retried: it may come back
	}
	sender := a.pseudonym(h)
	out, notice, err := a.optouts.OptedOut(ctx, sender)
	if err != nil {
		return "", err
	}
	if out && (notice == 0 || key != bot.OutboxKey(notice)) {
		return "", fmt.Errorf("%w (STOP)", bot.ErrOptedOut)
	}
	if !a.keepMarks {
		text = Strip(text) // an officer's follow-up, written with marks
	}
	id, err := p.Send(ctx, number, text, key)
	if errors.Is(err, ErrOptedOut) {
		if _, serr := a.optouts.SetOptOut(ctx, sender, true, reasonProvider, time.Time{}); serr != nil {
			a.log.WarnContext(ctx, "sms opt-out", "sender", sender, "err", serr)
		}
		return "", fmt.Errorf("%w: %w", bot.ErrOptedOut, err)
	}
	return id, err
}

// OptOutNumber records that a provider reported a number as unsubscribed
// (a status callback with Twilio's 21610).
func (a *Adapter) OptOutNumber(ctx context.Context, provider, number string) error {
	_, err := a.optouts.SetOptOut(ctx, a.pseudonym(handle(provider, Normalize(number))), true, reasonProvider, time.Time{})
	return err
}
