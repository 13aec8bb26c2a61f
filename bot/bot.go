// Package bot turns one inbound message into replies: it deduplicates on the
// provider's message ID, serialises each sender's messages, loads the
// session, steps the flow, commits a finished report, and only then saves the
// session. It reaches storage through the small interfaces below.
package bot

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"tinbao/flows"
	"tinbao/identity"
)

// Channels.
const (
	ChannelTelegram = "telegram"
	ChannelSMS      = "sms"
	ChannelWeb      = "web"
)

// Message is one inbound message, channel-neutral. Handle is the raw address
// to write back (a chat ID, a phone number): it is never logged and never
// stored in clear.
type Message struct {
	Channel     string
	Sender      string // keyed pseudonym of the sender
	Handle      string
	MessageID   string // the provider's ID: Telegram update_id, Twilio MessageSid
	Text        string
	Choice      string // a pressed button's ID
	LangHint    string
	Location    *flows.Location // a shared location (Telegram)
	Media       []flows.Media   // attachments, by the provider's file IDs
	Unsupported bool            // a sticker… that the flows cannot read
	// Seq and SentAt help tell a burst of messages from answers (see
	// flows.Input): the web page's own word, or the provider's send time.
	Seq    flows.Sequence
	SentAt time.Time
}

// LogValue keeps message text and the handle out of every log line.
func (m Message) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("channel", m.Channel),
		slog.String("sender", m.Sender),
		slog.String("message_id", m.MessageID),
	)
}

// Errors the stores return, checked with errors.Is.
var (
	ErrNotFound       = errors.New("not found")
	ErrDuplicate      = errors.New("already handled")
	ErrBusy           = errors.New("sender busy")
	ErrReferenceTaken = errors.New("reference code taken")
)

// Sessions holds conversations between messages (Redis).
type Sessions interface {
	// Begin returns ErrDuplicate for a message handled before, ErrBusy while
	// another message of the sender is handled, else the session, locked.
	Begin(ctx context.Context, channel, messageID, sender, token string) (flows.Session, error)
	// Finish saves the session, marks the message handled and unlocks.
	Finish(ctx context.Context, channel, messageID, sender, token string, s flows.Session) error
	// Release unlocks without saving.
	Release(ctx context.Context, sender, token string) error
	// Forget deletes the sender's session.
	Forget(ctx context.Context, sender string) error
	// Allow counts an event under key: false once more than limit happened
	// within window.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, error)
}

// Submission is a finished report with what is needed to acknowledge it.
type Submission struct {
	Report          flows.Report
	Channel         string
	Sender          string
	SourceMessageID string
	// Handle is the raw address to write back; storage seals it under the
	// report's own data key and never keeps it in clear.
	Handle string
	Alert  *Alert // to the officers' group, committed with the report
}

// Alert is a message to the officers' group.
type Alert struct {
	Channel   string
	Pseudonym string
	Sealed    []byte
	Body      string
}

// OfficersPseudonym names the officers' group where a sender's pseudonym
// would be: in the sealed handle's associated data and the rate limits.
const OfficersPseudonym = "officers"

// Tips commits reports (Postgres).
type Tips interface {
	// Commit stores the report and its acknowledgement atomically; it returns
	// ErrDuplicate if SourceMessageID was committed before and
	// ErrReferenceTaken if the reference code exists.
	Commit(ctx context.Context, s Submission) error
	// Status returns a report's status if sender made it, else ErrNotFound.
	Status(ctx context.Context, ref flows.Reference, sender string) (string, error)
	// OpenThread returns the sender's report with an officer's message
	// still open, or ErrNotFound.
	OpenThread(ctx context.Context, sender string) (flows.Reference, error)
	// AppendReply attaches a message to the thread of a report the sender
	// made (once per source message), else ErrNotFound.
	AppendReply(ctx context.Context, ref flows.Reference, sender, channel, sourceID, text string) error
}

// DataRequest is a request about a report's data, with who made it and how
// to answer them later.
type DataRequest struct {
	flows.DataRequest
	Channel         string
	Sender          string
	SourceMessageID string
	Lang            string
	// Sealed is the sender's handle sealed by a master key: the answer to
	// an erasure must reach them after the report's own key is destroyed.
	Sealed []byte
}

// DataRequests records requests about a report's data (Postgres).
type DataRequests interface {
	// Record records a request and applies what takes effect at once; for
	// an access request it returns what we hold. It returns ErrNotFound,
	// recording nothing, for a code that does not exist and for a report
	// the sender may not act on.
	Record(ctx context.Context, r DataRequest) (*flows.Holding, error)
}

// RecordDataRequests makes the runner record requests about a report's
// data in d. Without it they are answered and recorded nowhere (the
// terminal chat). Call it before handling messages.
func (r *Runner) RecordDataRequests(d DataRequests) { r.data = d }

// ReplyQueue makes conversational replies durable, for a channel where every
// message we send must be tracked to delivery (SMS).
type ReplyQueue interface {
	QueueReply(ctx context.Context, channel, pseudonym string, sealed []byte, lang, body string) error
}

type durable struct {
	queue   ReplyQueue
	compose func([]flows.Reply) string
}

// DeliverDurably sends the replies on channel through queue, each turn's
// replies composed into one message, before the message counts as handled.
// Call it before handling messages.
func (r *Runner) DeliverDurably(channel string, queue ReplyQueue, compose func([]flows.Reply) string) {
	if r.durable == nil {
		r.durable = map[string]durable{}
	}
	r.durable[channel] = durable{queue: queue, compose: compose}
}

// Observer counts what the runner does, for metrics.
type Observer interface {
	// Message counts an inbound message: handled, duplicate or failed.
	Message(channel, outcome string)
	// Committed counts a report made durable.
	Committed(channel string, kind flows.Kind, urgent bool)
}

// Observe makes the runner report to o. Call it before handling messages.
func (r *Runner) Observe(o Observer) { r.observer = o }

func (r *Runner) count(channel, outcome string) {
	if r.observer != nil {
		r.observer.Message(channel, outcome)
	}
}

// Outcome is what handling one message produced for its channel.
type Outcome struct {
	Replies []flows.Reply
	// Wipe: erase the conversation on the channel where it allows it.
	Wipe bool
	// Lang is the conversation's language after this message.
	Lang string
}

// Lookups a sender may make in lookupWindow: enough to retype a code, too few
// to guess codes.
const (
	lookupLimit  = 5
	lookupWindow = 10 * time.Minute
)

// Runner handles messages. It is safe for concurrent use.
type Runner struct {
	engine   *flows.Engine
	sessions Sessions
	tips     Tips
	keys     *identity.Keyring
	log      *slog.Logger
	now      func() time.Time
	busyWait time.Duration
	officers *officerGroup      // nil: no alerts
	durable  map[string]durable // channels whose replies go through the outbox
	observer Observer           // nil: nothing counted
	data     DataRequests       // nil: data requests recorded nowhere
}

type officerGroup struct {
	channel    string
	sealed     []byte
	consoleURL string
}

// AlertOfficers makes every urgent report post an alert to the officers'
// group (a Telegram chat ID) with a link into the console. Call it before
// handling messages.
func (r *Runner) AlertOfficers(channel, handle, consoleURL string) error {
	sealed, err := r.keys.Seal(channel, OfficersPseudonym, handle)
	if err != nil {
		return fmt.Errorf("officers' group: %w", err)
	}
	r.officers = &officerGroup{channel: channel, sealed: sealed, consoleURL: consoleURL}
	return nil
}

// NewRunner wires a runner.
func NewRunner(engine *flows.Engine, sessions Sessions, tips Tips, keys *identity.Keyring, log *slog.Logger) *Runner {
	return &Runner{engine: engine, sessions: sessions, tips: tips, keys: keys, log: log, now: time.Now, busyWait: 10 * time.Second}
}

// Engine returns the flows engine, for the adapters' texts.
func (r *Runner) Engine() *flows.Engine { return r.engine }

// Handle runs one message and returns what to send straight back. A replayed
// message returns nothing and no error. An error means nothing durable
// happened: the caller answers so that the provider retries (503), and may
// send the replies, which then say "please try again".
func (r *Runner) Handle(ctx context.Context, m Message) (Outcome, error) {
	out, dup, err := r.handle(ctx, m)
	switch {
	case err != nil:
		r.count(m.Channel, "failed")
	case dup:
		r.count(m.Channel, "duplicate")
	default:
		r.count(m.Channel, "handled")
	}
	return out, err
}

func (r *Runner) handle(ctx context.Context, m Message) (Outcome, bool, error) {
	token := newToken()
	sess, err := r.begin(ctx, m, token)
	if errors.Is(err, ErrDuplicate) {
		r.log.InfoContext(ctx, "duplicate message dropped", "message", m)
		return Outcome{}, true, nil
	}
	if err != nil {
		return r.busy(sess), false, fmt.Errorf("handle: %w", err)
	}
	in := flows.Input{Channel: m.Channel, Text: m.Text, Choice: m.Choice, Location: m.Location, Media: m.Media,
		Now: r.now(), LangHint: m.LangHint, Unsupported: m.Unsupported, Seq: m.Seq, SentAt: m.SentAt}
	if sess.Flow == "" && m.Text != "" {
		// Between flows, a free message may be a reply to an officer. A
		// slow database must not hold up the conversation: give up soon
		// and treat the message as new.
		tctx, cancel := context.WithTimeout(ctx, time.Second)
		ref, err := r.tips.OpenThread(tctx, m.Sender)
		cancel()
		switch {
		case err == nil:
			in.OpenThread = ref
		case !errors.Is(err, ErrNotFound):
			r.log.WarnContext(ctx, "open thread", "message", m, "err", err)
		}
	}
	var res flows.Result
	for attempt := 0; ; attempt++ {
		in.Reference = newReference()
		res = r.engine.Step(sess, in)
		if res.Report == nil {
			break
		}
		err = r.commit(ctx, m, res.Report)
		if errors.Is(err, ErrReferenceTaken) && attempt < 5 {
			continue // draw another code; Step is pure, so run it again
		}
		if errors.Is(err, ErrDuplicate) {
			r.log.InfoContext(ctx, "report already committed", "message", m)
			err = nil
		}
		if err != nil {
			if rerr := r.sessions.Release(ctx, m.Sender, token); rerr != nil {
				r.log.WarnContext(ctx, "release session", "message", m, "err", rerr)
			}
			return r.busy(sess), false, fmt.Errorf("handle: %w", err)
		}
		// The code and the sender's pseudonym never share a line: together
		// they would tie a report to a person across the logs.
		r.log.InfoContext(ctx, "report committed", "channel", m.Channel, "reference", string(res.Report.Reference),
			"kind", string(res.Report.Kind), "urgent", res.Report.Urgent)
		if r.observer != nil {
			r.observer.Committed(m.Channel, res.Report.Kind, res.Report.Urgent)
		}
		break
	}
	if res.Lookup != "" {
		res.Replies = append(res.Replies, r.lookup(ctx, m, res.Session.Lang, res.Lookup))
	}
	if res.Data != nil {
		reply, err := r.dataRequest(ctx, m, res.Session.Lang, *res.Data)
		if err != nil {
			// Nothing said: the provider's retry records it (one retry,
			// one effect: a request already recorded is not recorded twice).
			if rerr := r.sessions.Release(ctx, m.Sender, token); rerr != nil {
				r.log.WarnContext(ctx, "release session", "message", m, "err", rerr)
			}
			return r.busy(sess), false, fmt.Errorf("handle: %w", err)
		}
		res.Replies = append(res.Replies, reply)
	}
	if res.Reply != nil {
		err := r.tips.AppendReply(ctx, res.Reply.Reference, m.Sender, m.Channel, m.MessageID, res.Reply.Text)
		switch {
		case err == nil:
			r.log.InfoContext(ctx, "reply attached to thread", "channel", m.Channel, "reference", string(res.Reply.Reference))
			res.Replies = append(res.Replies, r.engine.ThreadAck(res.Session.Lang, res.Reply.Reference, true))
		case errors.Is(err, ErrNotFound):
			res.Replies = append(res.Replies, r.engine.ThreadAck(res.Session.Lang, res.Reply.Reference, false))
		default:
			if rerr := r.sessions.Release(ctx, m.Sender, token); rerr != nil {
				r.log.WarnContext(ctx, "release session", "message", m, "err", rerr)
			}
			return r.busy(sess), false, fmt.Errorf("handle: %w", err)
		}
	}
	if d, ok := r.durable[m.Channel]; ok && len(res.Replies) > 0 {
		// Queued before the message counts as handled: if this fails, the
		// provider's retry runs the message again.
		if err := r.queueReplies(ctx, d, m, res.Session.Lang, res.Replies); err != nil {
			if rerr := r.sessions.Release(ctx, m.Sender, token); rerr != nil {
				r.log.WarnContext(ctx, "release session", "message", m, "err", rerr)
			}
			if res.Report != nil {
				return Outcome{}, false, fmt.Errorf("handle: after commit: %w", err)
			}
			return r.busy(sess), false, fmt.Errorf("handle: %w", err)
		}
		res.Replies = nil
	}
	if err := r.sessions.Finish(ctx, m.Channel, m.MessageID, m.Sender, token, res.Session); err != nil {
		if res.Report != nil {
			// The report is durable; a retry of this message will find it
			// committed and not create it again.
			return Outcome{}, false, fmt.Errorf("handle: after commit: %w", err)
		}
		return r.busy(sess), false, fmt.Errorf("handle: %w", err)
	}
	if res.Wipe {
		r.log.InfoContext(ctx, "conversation wiped", "message", m)
	}
	return Outcome{Replies: res.Replies, Wipe: res.Wipe, Lang: res.Session.Lang}, false, nil
}

func (r *Runner) queueReplies(ctx context.Context, d durable, m Message, lang string, replies []flows.Reply) error {
	sealed, err := r.keys.Seal(m.Channel, m.Sender, m.Handle)
	if err != nil {
		return err
	}
	return d.queue.QueueReply(ctx, m.Channel, m.Sender, sealed, lang, d.compose(replies))
}

// lookup answers "how is my report going": rate-limited per sender, and the
// same answer for a code that does not exist as for someone else's.
func (r *Runner) lookup(ctx context.Context, m Message, lang string, ref flows.Reference) flows.Reply {
	ok, err := r.sessions.Allow(ctx, "lookup:"+m.Sender, lookupLimit, lookupWindow)
	if err != nil {
		r.log.WarnContext(ctx, "lookup rate limit", "message", m, "err", err)
		return r.busy(flows.Session{Lang: lang}).Replies[0]
	}
	if !ok {
		r.log.InfoContext(ctx, "lookup refused: too many", "message", m)
		return r.engine.Status(lang, ref, "", false, true)
	}
	status, err := r.tips.Status(ctx, ref, m.Sender)
	switch {
	case errors.Is(err, ErrNotFound):
		return r.engine.Status(lang, ref, "", false, false)
	case err != nil:
		r.log.WarnContext(ctx, "lookup", "message", m, "err", err)
		return r.busy(flows.Session{Lang: lang}).Replies[0]
	}
	return r.engine.Status(lang, ref, status, true, false)
}

// dataRequest records a request about a report's data and answers it. It
// counts against the same limit as lookups, and a code that does not exist,
// or that this sender may not act on, is answered exactly as a recorded
// request would be, except that there is nothing to show.
func (r *Runner) dataRequest(ctx context.Context, m Message, lang string, req flows.DataRequest) (flows.Reply, error) {
	ok, err := r.sessions.Allow(ctx, "lookup:"+m.Sender, lookupLimit, lookupWindow)
	if err != nil {
		return flows.Reply{}, fmt.Errorf("data request rate limit: %w", err)
	}
	if !ok {
		r.log.InfoContext(ctx, "data request refused: too many", "message", m)
		return r.engine.DataAnswer(lang, m.Channel, req, nil, true), nil
	}
	if r.data == nil {
		return r.engine.DataAnswer(lang, m.Channel, req, nil, false), nil
	}
	sealed, err := r.keys.Seal(m.Channel, m.Sender, m.Handle)
	if err != nil {
		return flows.Reply{}, err
	}
	held, err := r.data.Record(ctx, DataRequest{DataRequest: req, Channel: m.Channel, Sender: m.Sender,
		SourceMessageID: m.MessageID, Lang: lang, Sealed: sealed})
	switch {
	case errors.Is(err, ErrNotFound):
		held = nil
	case err != nil:
		return flows.Reply{}, fmt.Errorf("data request: %w", err)
	}
	// Neither the code nor the sender: only what kind of request it was.
	r.log.InfoContext(ctx, "data request answered", "channel", m.Channel, "kind", req.Kind)
	return r.engine.DataAnswer(lang, m.Channel, req, held, false), nil
}

// Forget deletes a sender's conversation (the web chat's quick exit).
func (r *Runner) Forget(ctx context.Context, sender string) error {
	return r.sessions.Forget(ctx, sender)
}

// begin takes the sender's lock, waiting while another of their messages is
// handled (a double tap, a retried webhook).
func (r *Runner) begin(ctx context.Context, m Message, token string) (flows.Session, error) {
	deadline := r.now().Add(r.busyWait)
	wait := 20 * time.Millisecond
	for {
		sess, err := r.sessions.Begin(ctx, m.Channel, m.MessageID, m.Sender, token)
		if !errors.Is(err, ErrBusy) || r.now().After(deadline) {
			return sess, err
		}
		select {
		case <-ctx.Done():
			return sess, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 500*time.Millisecond)
	}
}

func (r *Runner) commit(ctx context.Context, m Message, rep *flows.Report) error {
	sub := Submission{Report: *rep, Channel: m.Channel, Sender: m.Sender, SourceMessageID: m.MessageID, Handle: m.Handle}
	if rep.Urgent && r.officers != nil {
		sub.Alert = &Alert{
			Channel: r.officers.channel, Pseudonym: OfficersPseudonym, Sealed: r.officers.sealed,
			Body: r.engine.Alert(flows.AlertInfo{Reference: rep.Reference, Kind: rep.Kind, Category: rep.Category,
				Urgent: true, Link: r.officers.consoleURL + "/tips/" + string(rep.Reference)}),
		}
	}
	return r.tips.Commit(ctx, sub)
}

// busy is the "please try again" reply, in the sender's language if known.
func (r *Runner) busy(s flows.Session) Outcome {
	return Outcome{Replies: []flows.Reply{{Text: r.engine.Text(s.Lang, "common.busy")}}}
}

func newToken() string {
	b := make([]byte, 12)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// newReference draws a code with at least one letter, so that a number
// someone types ("1800 1567") is never taken for a code.
func newReference() flows.Reference {
	b := make([]byte, flows.RefPayloadLen)
	for {
		rand.Read(b)
		ref := flows.NewReference(b)
		if flows.HasLetter(string(ref)[3:]) {
			return ref
		}
	}
}
