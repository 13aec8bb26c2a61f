// Package bot turns one inbound message into replies: it deduplicates on the
// provider's message ID, serialises each sender's messages, loads the
// session, steps the flow, commits a finished report, and only then saves the
// session. It reaches storage through the small interfaces below.
package bot

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
	Channel   string
	Sender    string // keyed pseudonym of the sender
	Handle    string
	MessageID string // the provider's ID: Telegram update_id, Twilio MessageSid
	// Also are the sender's pseudonyms through the channel's other numbers
	// (SMS: the same phone writing to the hotline's other provider). A
	// report made under any of them answers to its code here: the person
	// has the same phone. Like Handle, never logged.
	Also []string
	// Position is the message's place in its chat where the channel numbers
	// a chat's messages (Telegram's message_id, shared by both sides of a
	// private chat); 0 elsewhere. The session keeps the range seen, so a
	// wipe deletes it without a list of IDs.
	Position    int64
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
	// Received is when the provider received the message, by its own
	// clock (the SMS gateway's receivedAt): it orders the changes of
	// consent (STOP, START) that a provider may deliver again long after.
	// Zero: unknown, and such changes apply in the order they reach us.
	Received time.Time
	// Address is a keyed pseudonym of where the message came from (the web
	// chat's client address, IPv6 by /64), where a new session costs
	// nothing and so a sender's own limits are not enough; "" elsewhere.
	// Like Handle, it is never logged.
	Address string
	// Greeted: the person has already been shown the menu and the privacy
	// notice without a session (the web page's opening answer), so a new
	// session does not say them again.
	Greeted bool
}

// owners are the pseudonyms a report of this sender may have been made under.
func (m Message) owners() []string { return append([]string{m.Sender}, m.Also...) }

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
	// another message of the sender is handled, else the session, locked,
	// with the flood counts, the chat's range (widened by pos) and the
	// officer's mark read in the same round trip.
	Begin(ctx context.Context, channel, messageID, sender, token string, pos int64) (Begun, error)
	// Finish saves the session, marks the message handled and unlocks;
	// answered counts the turn among the channel's replies this second.
	// fast counts the turn against the channel's cap; replies spend from
	// the channel's send budget (if it has one) in the same round trip,
	// and the returned wait says when the first one's slot comes.
	Finish(ctx context.Context, channel, messageID, sender, token string, s flows.Session, fast bool, replies int) (time.Duration, error)
	// Release unlocks without saving.
	Release(ctx context.Context, sender, token string) error
	// Forget deletes the sender's session.
	Forget(ctx context.Context, sender string) error
	// Allow counts an event under key: false once more than limit happened
	// within window.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, error)
	// AllowEach counts an event under each limit in order, in one round
	// trip, stopping at the first that refuses it; it returns that one's
	// index, or -1 when all allow it.
	AllowEach(ctx context.Context, limits []Limit) (int, error)
}

// Limit is one counter: at most N events under Key per Window.
type Limit struct {
	Key    string
	N      int
	Window time.Duration
}

// Begun is a session taken by Begin, with what caps a flood.
type Begun struct {
	Session flows.Session
	// Recent counts the sender's messages in the current flood window (a
	// minute), this one included.
	Recent int
	// Turns counts the turns answered on the channel in the current second,
	// across every sender and replica.
	Turns int
	// First and Last are the lowest and highest chat positions seen in the
	// conversation (0: none), for a wipe.
	First, Last int64
	// Thread: an officer wrote to the sender lately, so a free message may
	// be a reply; only then is Postgres asked which report it is about.
	Thread bool
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
	// Status returns a report's status if one of owners (the same person
	// under each of their pseudonyms) made it, else ErrNotFound.
	Status(ctx context.Context, ref flows.Reference, owners []string) (string, error)
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
	Channel string
	Sender  string
	// Owners may act on a report they made: Sender under each of its
	// pseudonyms (Message.Also).
	Owners          []string
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

// OptOutWith records, on channel, a person's asking for no more messages
// (flows.Result.OptOut) by calling record, with the turn's replies as the
// notice, before the message counts as handled: if it fails, the
// provider's retry asks again. Call it before handling messages.
func (r *Runner) OptOutWith(channel string, record OptOutFunc) {
	if r.optOut == nil {
		r.optOut = map[string]OptOutFunc{}
	}
	r.optOut[channel] = record
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
	// Wait is when the first reply's slot in the channel's send budget
	// comes (zero: now): an adapter may wait a moment to smooth a burst.
	Wait time.Duration
	// First and Last are the range of chat positions the conversation has
	// seen, this message's included (0: the channel has none): what a Wipe
	// deletes.
	First, Last int64
}

// Rate is at most N events Per period.
type Rate struct {
	N   int
	Per time.Duration
}

// Limits keep lookups and new web sessions from being abused: guessing
// codes, or filling Redis. A sender's own limit is not enough where a new
// sender costs nothing (a browser without its cookie), hence the address's;
// many addresses can share the work of guessing one code, hence the code's;
// and the service's ceiling bounds what the database is asked in all.
type Limits struct {
	LookupsPerSender  Rate // enough to retype a code, too few to guess codes
	LookupsPerAddress Rate // web chat: per client address (IPv6 by /64)
	LookupsPerCode    Rate // one code, whoever asks, on every channel
	Lookups           Rate // the whole service, every channel
	// NewSessionsPerAddress bounds the web chat sessions one client address
	// may open (each is a cookie and a few Redis keys).
	NewSessionsPerAddress Rate
}

// DefaultLimits are generous for people (a reporter looks their code up a
// few times a day; a family shares one address) and tight for scripts.
var DefaultLimits = Limits{
	LookupsPerSender:      Rate{5, 10 * time.Minute},
	LookupsPerAddress:     Rate{10, 10 * time.Minute},
	LookupsPerCode:        Rate{20, time.Hour},
	Lookups:               Rate{120, time.Minute},
	NewSessionsPerAddress: Rate{20, 10 * time.Minute},
}

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
	limits   Limits
	data     DataRequests // nil: data requests recorded nowhere
	alarms   Alarms       // nil: alarms not watched
	silence  time.Duration
	optOut   map[string]OptOutFunc
}

// OptOutFunc records a person's asking for no more messages on a channel,
// and, if notice has replies, queues them as the one message that still
// goes, saying so.
type OptOutFunc func(ctx context.Context, m Message, lang string, notice []flows.Reply) error

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
	return &Runner{engine: engine, sessions: sessions, tips: tips, keys: keys, log: log, now: time.Now, busyWait: busyWait,
		limits: DefaultLimits}
}

// Limit replaces DefaultLimits (tests use small ones). Call it before
// handling messages.
func (r *Runner) Limit(l Limits) { r.limits = l }

// Limits returns the limits in force, for the adapters that apply one.
func (r *Runner) Limits() Limits { return r.limits }

// Allow counts one event under key against rate (shared by replicas): the
// adapters' own limits, such as new web sessions per address.
func (r *Runner) Allow(ctx context.Context, key string, rate Rate) (bool, error) {
	return r.sessions.Allow(ctx, key, rate.N, rate.Per)
}

// Engine returns the flows engine, for the adapters' texts.
func (r *Runner) Engine() *flows.Engine { return r.engine }

// Handle runs one message and returns what to send straight back. A replayed
// message returns nothing and no error. An error means nothing durable
// happened: the caller answers so that the provider retries (503), and may
// send the replies, which then say "please try again".
func (r *Runner) Handle(ctx context.Context, m Message) (Outcome, error) {
	out, outcome, err := r.handle(ctx, m)
	if err != nil {
		outcome = "failed"
	}
	r.count(m.Channel, outcome)
	return out, err
}

// handle runs a message; the outcome is "handled", "duplicate" or "capped"
// (handled in a flood, not answered).
func (r *Runner) handle(ctx context.Context, m Message) (Outcome, string, error) {
	token := newToken()
	b, err := r.begin(ctx, m, token)
	sess := b.Session
	if errors.Is(err, ErrDuplicate) {
		r.log.InfoContext(ctx, "duplicate message dropped", "message", m)
		return Outcome{}, "duplicate", nil
	}
	if err != nil {
		return r.busy(sess), "", fmt.Errorf("handle: %w", err)
	}
	flooded := b.Recent > floodLimit
	if b.Recent == floodLimit+1 {
		r.log.WarnContext(ctx, "sender over the flood cap: answers held for the rest of the window", "message", m)
	}
	if m.Greeted && sess.Touched == 0 && sess.Flow == "" {
		sess = flows.AfterMenu(r.now())
	}
	in := flows.Input{Channel: m.Channel, Text: m.Text, Choice: m.Choice, Location: m.Location, Media: m.Media,
		Now: r.now(), LangHint: m.LangHint, Unsupported: m.Unsupported, Seq: m.Seq, SentAt: m.SentAt}
	if sess.Flow == "" && m.Text != "" && !flooded && b.Thread {
		// Between flows, a free message may be a reply to an officer, if
		// one wrote (the mark Begin read): only then is Postgres asked. A
		// slow database must not hold up the conversation: give up soon
		// and treat the message as new. A flood asks Postgres nothing.
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
		if r.hiddenFiled(ctx, m, res.Report) {
			res.Report = nil // filed after the silence, nothing added since
		}
		if res.Report == nil {
			break
		}
		// A finished report is committed even in a flood: it is the one
		// thing a flood must never cost.
		err = r.commit(ctx, m, sess.Draft, res.Report)
		if errors.Is(err, ErrReferenceTaken) && attempt < 5 {
			continue // draw another code; Step is pure, so run it again
		}
		if errors.Is(err, ErrDuplicate) {
			r.log.InfoContext(ctx, "report already committed", "message", m)
			err = nil
		}
		if err != nil && res.Wipe {
			// Hiding the chat never waits on Postgres: the wipe goes on, and
			// the cry stays in the conversation for the silence filing.
			r.log.WarnContext(ctx, "wipe: the cry is kept to be filed later", "message", m, "err", err)
			res.Report, res.Session = nil, sess
			break
		}
		if err != nil {
			r.release(ctx, m.Sender, token)
			return r.busy(sess), "", fmt.Errorf("handle: %w", err)
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
	if res.Session.Flow != "" && res.Session.Draft == "" {
		res.Session.Draft = newToken()
	}
	if res.Lookup != "" && !flooded { // in a flood the answer would not be said
		res.Replies = append(res.Replies, r.lookup(ctx, m, res.Session.Lang, res.Lookup))
	}
	if res.Data != nil { // answered even in a flood: the person asked about their data
		reply, err := r.dataRequest(ctx, m, res.Session.Lang, *res.Data)
		if err != nil {
			// Nothing said: the provider's retry records it (one retry,
			// one effect: a request already recorded is not recorded twice).
			r.release(ctx, m.Sender, token)
			return r.busy(sess), "", fmt.Errorf("handle: %w", err)
		}
		res.Replies = append(res.Replies, reply)
	}
	if res.Reply != nil && !flooded {
		err := r.tips.AppendReply(ctx, res.Reply.Reference, m.Sender, m.Channel, m.MessageID, res.Reply.Text)
		switch {
		case err == nil:
			r.log.InfoContext(ctx, "reply attached to thread", "channel", m.Channel, "reference", string(res.Reply.Reference))
			res.Replies = append(res.Replies, r.engine.ThreadAck(res.Session.Lang, res.Reply.Reference, true))
		case errors.Is(err, ErrNotFound):
			res.Replies = append(res.Replies, r.engine.ThreadAck(res.Session.Lang, res.Reply.Reference, false))
		default:
			r.release(ctx, m.Sender, token)
			return r.busy(sess), "", fmt.Errorf("handle: %w", err)
		}
	}
	if record := r.optOut[m.Channel]; record != nil && res.OptOut {
		// Before Finish: once the message counts as handled, a retry
		// would be dropped as a duplicate and the opt-out lost. The
		// replies are the notice, queued with it.
		notice := res.Replies
		res.Replies = nil
		if err := record(ctx, m, res.Session.Lang, notice); err != nil {
			r.release(ctx, m.Sender, token)
			return r.busy(sess), "", fmt.Errorf("handle: opt out: %w", err)
		}
	}
	r.watch(ctx, m, sess, res)
	res.Replies = r.capReplies(ctx, m, b, res)
	answered := len(res.Replies) > 0
	if d, ok := r.durable[m.Channel]; ok && answered {
		// Queued before the message counts as handled: if this fails, the
		// provider's retry runs the message again.
		if err := r.queueReplies(ctx, d, m, res.Session.Lang, res.Replies); err != nil {
			r.release(ctx, m.Sender, token)
			if res.Report != nil {
				return Outcome{}, "", fmt.Errorf("handle: after commit: %w", err)
			}
			return r.busy(sess), "", fmt.Errorf("handle: %w", err)
		}
		res.Replies = nil
	}
	// Only a fast sender's answered turns count against the channel's cap:
	// the cap bounds what fast senders take of the channel, and a person at
	// a normal pace neither uses it up nor is held back by it.
	fast := answered && b.Recent > brisk
	wait, err := r.sessions.Finish(ctx, m.Channel, m.MessageID, m.Sender, token, res.Session, fast, len(res.Replies))
	if err != nil {
		if res.Report != nil {
			// The report is durable; a retry of this message will find it
			// committed and not create it again.
			return Outcome{}, "", fmt.Errorf("handle: after commit: %w", err)
		}
		return r.busy(sess), "", fmt.Errorf("handle: %w", err)
	}
	if res.Wipe {
		r.log.InfoContext(ctx, "conversation wiped", "message", m)
	}
	outcome := "handled"
	if flooded {
		outcome = "capped"
	}
	return Outcome{Replies: res.Replies, Wipe: res.Wipe, Lang: res.Session.Lang, Wait: wait, First: b.First, Last: b.Last}, outcome, nil
}

// release frees the sender's lock after a turn that saved nothing, even when
// ctx has ended (often why the turn failed: Postgres hung until the
// webhook's deadline, or the provider hung up): a lock left to run out
// held the provider's retry, and every next message, for up to 30 s.
func (r *Runner) release(ctx context.Context, sender, token string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := r.sessions.Release(ctx, sender, token); err != nil {
		r.log.WarnContext(ctx, "release session", "sender", sender, "err", err)
	}
}

// Flood caps. From one sender, floodLimit messages a minute are answered as
// usual: a story told in many quick messages is a few dozen at most. The
// next message gets one calm notice, and the rest of the minute is silent.
// Nothing is dropped: every message still runs through the flow, so the
// words are kept, danger words still mark the report urgent (and are kept
// word for word), and a Gửi still commits the report, whose acknowledgement
// goes out through the outbox as always. What a flood does not get: replies,
// and any Postgres work but that commit.
const floodLimit = 30

// channelTurns caps the turns answered per second on a channel, across every
// sender and replica: Telegram allows a bot about 30 messages a second in
// all (the outbox's acknowledgements share them), and every SMS costs money
// while the outbox sends 5 a second. The web chat answers in its own HTTP
// response: no cap. Read when a message begins and counted when it ends, so
// messages handled at the same moment may pass it by a few. It counts and
// holds back only the turns of senders already writing fast (more than
// brisk messages this minute): a person at a normal pace is always answered,
// whatever else the channel carries.
var channelTurns = map[string]int{ChannelTelegram: 25, ChannelSMS: 5}

// brisk is the pace (messages a minute from one sender) above which the
// channel's cap applies to them.
const brisk = floodLimit / 2

// capReplies is what of a turn is said under the flood caps. Over the
// sender's cap: the notice once, then nothing. Over the channel's cap: the
// turn is not answered (the person's words are kept; their next message is
// answered when the channel has room): holding the answer back for later
// would have it arrive after the person moved on. Either way the emergency
// numbers of a message with danger words go out: over the sender's cap only
// the first time the conversation raises the alarm, so a flood of danger
// words is not a flood of answers.
func (r *Runner) capReplies(ctx context.Context, m Message, b Begun, res flows.Result) []flows.Reply {
	replies := res.Replies
	alarm := res.Danger && !b.Session.Urgent
	switch {
	case b.Recent == floodLimit+1:
		notice := flows.Reply{Text: r.engine.Text(res.Session.Lang, "common.flood")}
		if alarm {
			return append(replies[:len(replies):len(replies)], notice)
		}
		return []flows.Reply{notice}
	case b.Recent > floodLimit+1:
		if alarm {
			return replies
		}
		return nil
	}
	if limit, ok := channelTurns[m.Channel]; ok && b.Turns >= limit && b.Recent > brisk && !res.Danger {
		r.log.WarnContext(ctx, "channel over its reply cap: turn not answered", "channel", m.Channel)
		return nil
	}
	return replies
}

func (r *Runner) queueReplies(ctx context.Context, d durable, m Message, lang string, replies []flows.Reply) error {
	sealed, err := r.keys.Seal(m.Channel, m.Sender, m.Handle)
	if err != nil {
		return err
	}
	return d.queue.QueueReply(ctx, m.Channel, m.Sender, sealed, lang, d.compose(replies))
}

// lookup answers "how is my report going": rate-limited, and the same answer
// for a code that does not exist as for someone else's. The limits are
// counted before the database is read, and a refused lookup reads nothing,
// so a refusal says nothing about whether the code exists.
func (r *Runner) lookup(ctx context.Context, m Message, lang string, ref flows.Reference) flows.Reply {
	limits := r.lookupLimits(m, ref)
	refused, err := r.sessions.AllowEach(ctx, limits)
	if err != nil {
		r.log.WarnContext(ctx, "lookup rate limit", "message", m, "err", err)
		return r.busy(flows.Session{Lang: lang}).Replies[0]
	}
	switch {
	case refused == 0:
		r.log.InfoContext(ctx, "lookup refused: too many", "message", m)
		return r.engine.Status(lang, ref, "", false, true)
	case refused > 0:
		// Not the sender's doing as far as they can tell: many are asking.
		// The log says which limit, never the code.
		r.log.InfoContext(ctx, "lookup refused: busy", "channel", m.Channel, "limit", limits[refused].Key[:strings.IndexByte(limits[refused].Key, ':')])
		return r.engine.LookupsBusy(lang)
	}
	status, err := r.tips.Status(ctx, ref, m.owners())
	switch {
	case errors.Is(err, ErrNotFound):
		return r.engine.Status(lang, ref, "", false, false)
	case err != nil:
		r.log.WarnContext(ctx, "lookup", "message", m, "err", err)
		return r.busy(flows.Session{Lang: lang}).Replies[0]
	}
	return r.engine.Status(lang, ref, status, true, false)
}

// lookupLimits are the counters of one lookup, the sender's own first (a
// lookup it refuses uses up nothing shared), the service's last. The code
// is counted by a keyed pseudonym: Redis never holds codes in clear.
func (r *Runner) lookupLimits(m Message, ref flows.Reference) []Limit {
	l := r.limits
	limits := []Limit{{"lookup:" + m.Sender, l.LookupsPerSender.N, l.LookupsPerSender.Per}}
	if m.Address != "" {
		limits = append(limits, Limit{"lookup-address:" + m.Address, l.LookupsPerAddress.N, l.LookupsPerAddress.Per})
	}
	return append(limits,
		Limit{"lookup-code:" + r.keys.Pseudonym("lookup-code", string(ref)), l.LookupsPerCode.N, l.LookupsPerCode.Per},
		Limit{"lookups:all", l.Lookups.N, l.Lookups.Per})
}

// dataRequest records a request about a report's data and answers it. It
// counts against the same limit as lookups, and a code that does not exist,
// or that this sender may not act on, is answered exactly as a recorded
// request would be, except that there is nothing to show.
func (r *Runner) dataRequest(ctx context.Context, m Message, lang string, req flows.DataRequest) (flows.Reply, error) {
	ok, err := r.sessions.Allow(ctx, "lookup:"+m.Sender, r.limits.LookupsPerSender.N, r.limits.LookupsPerSender.Per)
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
	held, err := r.data.Record(ctx, DataRequest{DataRequest: req, Channel: m.Channel, Sender: m.Sender, Owners: m.owners(),
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

// Once applies effect for m once, in turn with the sender's other
// messages: under their lock, and not at all for a message handled before
// (a provider's retry). For what an adapter does itself rather than through
// the flows, such as STOP and START by SMS: a STOP the gateway retries after
// the person's START must not stop them again. The session is left as it
// was. An error means nothing was recorded: the provider retries.
func (r *Runner) Once(ctx context.Context, m Message, effect func(context.Context) error) error {
	token := newToken()
	b, err := r.begin(ctx, m, token)
	if errors.Is(err, ErrDuplicate) {
		r.log.InfoContext(ctx, "duplicate message dropped", "message", m)
		return nil
	}
	if err != nil {
		return fmt.Errorf("once: %w", err)
	}
	if err := effect(ctx); err != nil {
		r.release(ctx, m.Sender, token)
		return fmt.Errorf("once: %w", err)
	}
	if _, err := r.sessions.Finish(ctx, m.Channel, m.MessageID, m.Sender, token, b.Session, false, 0); err != nil {
		// The effect is recorded; its retry applies it again, which STOP
		// and START bear.
		return fmt.Errorf("once: %w", err)
	}
	return nil
}

// Forget deletes a sender's conversation (the web chat's quick exit).
func (r *Runner) Forget(ctx context.Context, sender string) error {
	return r.sessions.Forget(ctx, sender)
}

// Exit is a quick exit (the web chat's Thoát nhanh): the conversation is
// forgotten, but a cry for help in it is filed first, at once, as a wipe
// files it (flows.Engine.Hidden): hiding the chat does not take back the
// cry. A retry after the forgetting finds nothing left to file.
func (r *Runner) Exit(ctx context.Context, channel, sender string) error {
	m := Message{Channel: channel, Sender: sender, MessageID: "exit:" + newToken()}
	token := newToken()
	b, err := r.begin(ctx, m, token)
	if err != nil {
		return err
	}
	release := func() { r.release(ctx, sender, token) }
	if rep := r.engine.Hidden(b.Session, channel, ""); rep != nil && !r.hiddenFiled(ctx, m, rep) {
		hidden := func(ref flows.Reference) *flows.Report { return r.engine.Hidden(b.Session, channel, ref) }
		if _, err := r.fileCry(ctx, m, b.Session.Draft, "quick exit", hidden); err != nil {
			release()
			return err // nothing forgotten: the exit's retry files it
		}
	}
	release()
	return r.sessions.Forget(ctx, sender)
}

// busyWait is how long a message waits for its sender's lock. Another of
// their messages takes milliseconds; a lock still held after this is most
// likely a replica that died mid-message, and the provider's retry comes
// back once the lock has run out. Waiting longer would only hold the
// webhook (the fault drills' kill -9 saw 10-s 503s with a 10-s wait).
const busyWait = 1500 * time.Millisecond

// begin takes the sender's lock, waiting while another of their messages is
// handled (a double tap, a retried webhook).
func (r *Runner) begin(ctx context.Context, m Message, token string) (Begun, error) {
	deadline := r.now().Add(r.busyWait)
	wait := 20 * time.Millisecond
	for {
		b, err := r.sessions.Begin(ctx, m.Channel, m.MessageID, m.Sender, token, m.Position)
		if !errors.Is(err, ErrBusy) || r.now().After(deadline) {
			return b, err
		}
		select {
		case <-ctx.Done():
			return b, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 500*time.Millisecond)
	}
}

// commit stores a finished report. Its source key is the draft's when the
// draft has one: if the session could not be saved after a commit (the
// person was told to send again), the resent "send" of the same draft finds
// the report committed instead of making a second one.
func (r *Runner) commit(ctx context.Context, m Message, draft string, rep *flows.Report) error {
	source := m.MessageID
	switch {
	case rep.Details[flows.WipedKey] == "yes" && !strings.HasPrefix(m.MessageID, "alarm:"):
		// Filed for a cry hidden by a wipe: marked as the silence filings
		// are (alarm:…), so the queue shows it unfinished too.
		source = "alarm:wipe:" + m.MessageID
	case draft != "":
		source = "draft:" + draft
	}
	sub := Submission{Report: *rep, Channel: m.Channel, Sender: m.Sender, SourceMessageID: source, Handle: m.Handle}
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

// newToken draws 96 random bits, written in 16 characters: it names a lock
// or a draft, and is kept in every parked conversation's Redis record, so
// base64 rather than hex.
func newToken() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
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
