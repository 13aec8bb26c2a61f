// Package flows decides what to say next. Each conversation is a pure state
// machine: a Session and an Input go in, a new Session, replies and maybe a
// finished Report come out. No I/O, no clock, no randomness: the time and a
// fresh reference code arrive in the Input, so every transcript is
// reproducible in a test. Lookups and wipes are asked for in the Result and
// done by the caller.
package flows

import (
	"math"
	"slices"
	"strings"
	"time"

	"tinbao/locales"
)

// Kind says which door a report came through.
type Kind string

// The two doors: a citizen's tip, or a request for help.
const (
	KindTip  Kind = "tip"
	KindHelp Kind = "help"
)

// MaxTextRunes caps one message's text: the longest Telegram carries in one
// message, so nothing a person can send there is refused for its length (at
// 2,000 a story typed in one go was sent back to be cut up on a phone).
// Longer text (only the web box can hold it) is refused with a request to
// shorten it rather than cut silently.
const MaxTextRunes = 4096

// MaxMedia caps the attachments kept with one report.
const MaxMedia = 10

// MaxMediaBytes caps one attachment: 10 MiB. A larger file is refused when
// it is sent, with a word saying so, rather than dropped later in silence.
const MaxMediaBytes = 10 << 20

// Session is a conversation's state between messages. It is kept small
// because Redis holds one per active sender (storage writes it in a compact
// positional form; the short JSON keys are the older form, still read).
type Session struct {
	Flow     string            `json:"f,omitempty"` // "" = no flow running
	Step     string            `json:"s,omitempty"`
	Lang     string            `json:"l,omitempty"`
	Answers  map[string]string `json:"a,omitempty"`
	Media    []Media           `json:"m,omitempty"`
	Urgent   bool              `json:"u,omitempty"`
	Editing  bool              `json:"e,omitempty"` // answering one question again from the summary
	Paused   bool              `json:"p,omitempty"` // idle too long: asked whether to resume
	Resume   string            `json:"r,omitempty"` // "flow/step" to go back to after choosing a language
	Confirm  bool              `json:"c,omitempty"` // asked "cancel the whole report?"
	EditMenu bool              `json:"k,omitempty"` // showing the list of answers to change
	Touched  int64             `json:"t,omitempty"` // unix time of the last message
	// More: the story question stays open for more messages until Tiếp.
	More bool `json:"mo,omitempty"`
	// JoinStep is the free-text question answered last and JoinAt when
	// (unix ms): a message written before the person could have read the
	// next question is more of that answer, not the next one.
	JoinStep string `json:"js,omitempty"`
	JoinAt   int64  `json:"ja,omitempty"`
	// Abroad is where the person seems to be outside Vietnam (a country
	// code of the hotlines file, or "xx" for somewhere else): the numbers
	// they are given are the ones that work from there.
	Abroad string `json:"ab,omitempty"`
	// Opener keeps the words of a first message while the person chooses
	// between reporting and asking for help, so they need not retype them.
	Opener string `json:"o,omitempty"`
	// Distress keeps the messages that raised a danger alert, as written.
	Distress []Distress `json:"d,omitempty"`
	// Draft names the draft for the runner (which sets it; the flows only
	// carry it): a report is committed once per draft, however often the
	// person resends the message that submits it.
	Draft string `json:"dr,omitempty"`
}

// Distress is a message that raised a danger alert, kept word for word as
// evidence and shown first to officers.
type Distress struct {
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

// MaxDistress caps the alarm messages kept with one report.
const MaxDistress = 20

// MaxStoryRunes caps an answer joined from several messages.
const MaxStoryRunes = 2 * MaxTextRunes

// Sequence says whether a message was written before the reply to the
// previous one was shown: only the web page knows it for sure.
type Sequence int

// Sequences.
const (
	SeqUnknown    Sequence = iota // decide by the message's time
	SeqBurst                      // written while the previous one was still on its way
	SeqAfterReply                 // written after the reply was shown
)

// Location is a point shared from a phone. Flows keep it coarse.
type Location struct{ Lat, Lon float64 }

// Media is an attachment kept by the provider's file ID, never downloaded
// here.
type Media struct {
	Kind   string `json:"k"`  // photo, document, video, voice
	FileID string `json:"id"` // the provider's file ID
	Mime   string `json:"mt,omitempty"`
	Size   int64  `json:"sz,omitempty"`
}

// Input is one message from the sender, already made channel-neutral.
type Input struct {
	Channel   string    // telegram, sms, web: some questions exist only where they can be answered
	Text      string    // what was typed, if anything
	Choice    string    // the ID of a pressed button, if any
	Location  *Location // a shared location (Telegram)
	Media     []Media   // attachments (Telegram; photos uploaded in the web chat)
	Now       time.Time // when the message arrived
	Reference Reference // a fresh code, used only if this input submits a report
	LangHint  string    // the client's language (Telegram language_code), for a new session
	// Unsupported is set for what the flows cannot read (a sticker); the
	// person is asked to type instead.
	Unsupported bool
	// OpenThread is the sender's report with an officer's message still
	// open: a free message with no flow running is a reply to it.
	OpenThread Reference
	// Seq and SentAt tell a burst of messages from answers to new
	// questions: the page's own word (web), else the time the person sent
	// the message (Telegram's date), else the engine's join window.
	Seq    Sequence
	SentAt time.Time
}

// Reply is one message to send back: text and, maybe, choices that each
// channel renders its own way (buttons, numbered lines).
type Reply struct {
	Text    string
	Choices []Choice
	// Pick is true when the answer must be one of the choices (SMS numbers
	// them); false when the choices are shortcuts beside free text (SMS
	// shows their words to type).
	Pick bool
	// Menu marks the menu's choices offered again after something ended,
	// so nobody is left at a dead end; SMS says in one line (Hint) how to
	// get it instead.
	Menu bool
	Hint string
	// Attach marks a question that takes photos: the web page offers a
	// button to pick one (Telegram has its own paperclip).
	Attach bool
	// Numbers marks the emergency numbers (emergency.numbers, .abroad): the
	// web page makes their phone numbers buttons to call, and only theirs. A
	// number in an ordinary sentence (a consent question, a summary) stays
	// text, so that a mis-tap never places a call from a watched phone.
	Numbers bool
}

// Choice is one option offered with a reply. ID is opaque and short (it
// travels as Telegram callback data, at most 64 bytes).
type Choice struct {
	ID    string
	Label string
}

// Report is a finished report, ready to be committed with its acknowledgement.
type Report struct {
	Kind      Kind
	Reference Reference
	Urgent    bool
	Lang      string
	Category  string
	Details   map[string]string // answers by question ID; skipped ones absent
	Media     []Media
	// Distress is every message that raised a danger alert, as written.
	Distress []Distress
	// FollowUp is whether the sender allowed us to write to them later.
	FollowUp bool
	Ack      string // the acknowledgement, in the sender's language
	// Since is when the person first asked, if before the report was made:
	// the first cry of a request filed after silence or a wipe, whose age
	// and deadline run from then (zero: now).
	Since time.Time
}

// Result is what one Step produced.
type Result struct {
	Session Session
	Replies []Reply
	Report  *Report
	// Lookup asks the caller to find this report for this sender and answer
	// with Engine.Status.
	Lookup Reference
	// Wipe asks the caller to erase the conversation on its channel (/xoa,
	// the panic word): delete messages where the channel allows it.
	Wipe bool
	// Reply is a message for the officers handling a report; the caller
	// attaches it to the report's thread (if the sender made it) and answers
	// with Engine.ThreadAck.
	Reply *ThreadReply
	// Danger: this message carried danger words; its replies begin with the
	// emergency numbers, which the caller's flood caps must not hold back.
	Danger bool
	// Data asks the caller to handle a request about the data a code's
	// report holds and answer with Engine.DataAnswer.
	Data *DataRequest
	// OptOut: the person asked for no more messages (an SMS "dung" with no
	// request under way); nothing is said back.
	OptOut bool
}

// ThreadReply is a reporter's message to the officers of one report.
type ThreadReply struct {
	Reference Reference
	Text      string
}

// Options tune the engine; zero values take the defaults.
type Options struct {
	// Idle is how long a conversation may rest before the next message
	// asks whether to resume or start again; default 30 minutes.
	Idle time.Duration
	// PanicWord, when typed at any time, wipes the conversation and gets a
	// harmless answer. Empty: none.
	PanicWord string
	// Join is how soon after a free-text answer another message counts as
	// more of it, when the channel cannot say (SMS); default 4 seconds,
	// negative: never.
	Join time.Duration
	// ResponseHours is how soon a person can expect a human to read a
	// report, said in acknowledgements; default 24.
	ResponseHours int
	// StaffedFrom and StaffedTo bound the hours people read messages, in
	// minutes after midnight, Vietnam time; both zero: around the clock.
	StaffedFrom, StaffedTo int
	// PrivacyURL is the full privacy notice, linked from the first message.
	PrivacyURL string
	// Forget is how long an unsent conversation is kept
	// (RETAIN_CONVERSATIONS), as the privacy notes say; default 24 hours.
	Forget time.Duration
	// Hotlines are the numbers for people abroad; nil: the embedded file.
	Hotlines *locales.Hotlines
}

// Engine runs the conversations with the texts of one catalog.
type Engine struct {
	cat   *locales.Catalog
	opts  Options
	panic string // folded panic word
	flows map[string]*flow
}

// New builds the engine and its flows.
func New(cat *locales.Catalog, opts Options) *Engine {
	if opts.Idle <= 0 {
		opts.Idle = 30 * time.Minute
	}
	if opts.Forget <= 0 {
		opts.Forget = 24 * time.Hour
	}
	if opts.Join == 0 {
		opts.Join = 4 * time.Second
	}
	if opts.ResponseHours <= 0 {
		opts.ResponseHours = 24
	}
	if opts.Hotlines == nil {
		opts.Hotlines = locales.DefaultHotlines()
	}
	e := &Engine{cat: cat, opts: opts, panic: locales.Fold(opts.PanicWord), flows: map[string]*flow{}}
	for _, f := range []*flow{reportFlow(), helpFlow()} {
		e.flows[f.name] = f
	}
	return e
}

// Text returns one message in lang, for the few texts said outside a flow.
func (e *Engine) Text(lang, id string) string { return e.cat.T(lang, id, nil) }

// Step advances the conversation by one input.
func (e *Engine) Step(s Session, in Input) Result {
	if s.Lang == "" {
		s.Lang = e.cat.Match(in.LangHint)
		if s.Lang == "" {
			s.Lang = locales.Default
		}
	}
	in.Text = strings.TrimSpace(locales.Clean(in.Text))
	c := &turn{e: e, s: s, in: in}
	if in.Channel == "sms" && stopWord(in.Text) && (in.OpenThread == "" || c.midRequest()) {
		// The contract's opt-out word, wherever it comes: a person who
		// wrote it mid-request because someone was watching the phone got
		// the next question, and "dung" twice answered "in danger: yes"
		// (contract review). Typed without marks it may also mean "đúng"
		// (yes): one text says the messages stop and how to undo it, and
		// the draft waits for BAT DAU. After an officer wrote, "dung" at
		// rest answers them instead ("đúng", yes: a mother asked "are you
		// her mother?" was cut off from the officer, SMS trial): it goes to
		// the thread, and a line says how to stop the texts.
		key := "common.stopped"
		if c.midRequest() {
			key = "common.stopped_mid"
		}
		return Result{Session: s, OptOut: true, Replies: []Reply{{Text: c.t(key, nil)}}}
	}
	first := s.Touched == 0
	if (first || c.s.Flow == "") && c.s.Lang != "en" && slices.Contains(e.cat.Languages(), "en") && looksEnglish(c.keys()) {
		// Written in English with nothing under way: answered in English
		// (on the web the page's greeting was the first turn, so a first
		// message in English was answered in Vietnamese: web trial).
		c.s.Lang = "en"
	}
	c.run()
	if first && !c.danger && !c.wipe && c.report == nil && c.lookup == "" && c.reply == nil && c.data == nil {
		c.withPrivacy() // first contact: who reads this, what is kept
	}
	if c.wipe && c.report == nil {
		c.report = e.Hidden(s, in.Channel, in.Reference)
	}
	if !in.Now.IsZero() {
		c.s.Touched = in.Now.Unix()
	}
	return Result{Session: c.s, Replies: c.replies, Report: c.report, Lookup: c.lookup, Wipe: c.wipe, Reply: c.reply,
		Danger: c.danger, Data: c.data}
}

// Alarmed says whether the conversation holds an alarm: danger words kept,
// or "in danger now" answered. Urgent alone is not one (a child in a
// report is urgent; sending it is the tipster's choice).
func (s Session) Alarmed() bool {
	return s.Urgent && (len(s.Distress) > 0 || s.Answers["danger"] == "yes")
}

// firstCry is when the person first wrote words of danger (zero if never):
// a request that holds a cry is received then, whether the person sends it
// or it is filed for them, so the two sort as one.
func (s Session) firstCry() time.Time {
	if len(s.Distress) == 0 {
		return time.Time{}
	}
	return s.Distress[0].At
}

// turn is the work of one Step.
type turn struct {
	e       *Engine
	s       Session
	in      Input
	replies []Reply
	report  *Report
	lookup  Reference
	wipe    bool
	reply   *ThreadReply
	data    *DataRequest
	before  map[string]bool // while editing: which steps applied before the answer
	danger  bool            // this message carries danger words
	alarm   *Distress       // this message, kept because it raised the alarm
	k       keys            // the keys of in.Text, once folded (see turn.keys)
	folded  bool            // k is set
}

// t says message id in the conversation's language; on SMS its short,
// numbered form (id_sms) where there is one.
func (c *turn) t(id string, data map[string]any) string {
	// A channel's own wording, where it has one: short on SMS; on the web
	// chat, which cannot write to anyone after the page is closed, no
	// "we will message you here".
	switch {
	case c.in.Channel == "sms" && c.e.cat.Has(id+"_sms"):
		id += "_sms"
	case c.in.Channel == "web" && c.e.cat.Has(id+"_web"):
		id += "_web"
	}
	return c.e.cat.T(c.s.Lang, id, data)
}

func (c *turn) say(text string, choices ...Choice) {
	c.replies = append(c.replies, Reply{Text: text, Choices: choices})
}

func (c *turn) ask(text string, choices ...Choice) {
	c.replies = append(c.replies, Reply{Text: text, Choices: choices, Pick: true})
}

func (c *turn) choice(id, labelID string) Choice { return Choice{ID: id, Label: c.t(labelID, nil)} }

// reset ends any flow, keeping only the language and where the person is.
func (c *turn) reset() { c.s = Session{Lang: c.s.Lang, Abroad: c.s.Abroad} }

// coarse rounds a shared location to about 11 km, enough to route a report
// to the right province without pinpointing anyone.
func coarse(l Location) (float64, float64) {
	return math.Round(l.Lat*10) / 10, math.Round(l.Lon*10) / 10
}
