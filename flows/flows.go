// Package flows decides what to say next. Each conversation is a pure state
// machine: a Session and an Input go in, a new Session, replies and maybe a
// finished Report come out. No I/O, no clock, no randomness: the time and a
// fresh reference code arrive in the Input, so every transcript is
// reproducible in a test.
package flows

import (
	"strings"
	"time"
	"unicode/utf8"

	"tinbao/locales"
)

// Kind says which door a report came through.
type Kind string

// The two doors: a citizen's tip, or a request for help.
const (
	KindTip  Kind = "tip"
	KindHelp Kind = "help"
)

// MaxTextRunes caps one free-text answer; longer text is refused with a
// request to shorten it rather than cut silently.
const MaxTextRunes = 2000

// Session is a conversation's state between messages. It is small and
// JSON-encoded with short keys because Redis holds one per active sender.
type Session struct {
	Flow    string            `json:"f,omitempty"` // "" = no flow running
	Step    string            `json:"s,omitempty"`
	Lang    string            `json:"l,omitempty"`
	Answers map[string]string `json:"a,omitempty"`
	Urgent  bool              `json:"u,omitempty"`
}

// Input is one message from the sender, already made channel-neutral.
type Input struct {
	Text      string    // what was typed, if anything
	Choice    string    // the ID of a pressed button, if any
	Now       time.Time // when the message arrived
	Reference Reference // a fresh code, used only if this input submits a report
	LangHint  string    // the client's language (Telegram language_code), for a new session
	// Unsupported is set for what the flows cannot read yet (a sticker, a
	// voice note); the person is asked to type instead.
	Unsupported bool
}

// Reply is one message to send back: text and, maybe, choices that each
// channel renders its own way (buttons, numbered lines).
type Reply struct {
	Text    string
	Choices []Choice
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
	Ack       string            // the acknowledgement, in the sender's language
}

// Result is what one Step produced.
type Result struct {
	Session Session
	Replies []Reply
	Report  *Report
}

// Engine runs the conversations with the texts of one catalog.
type Engine struct {
	cat   *locales.Catalog
	flows map[string]*flow
}

// New builds the engine and its flows.
func New(cat *locales.Catalog) *Engine {
	e := &Engine{cat: cat, flows: map[string]*flow{}}
	for _, f := range []*flow{reportFlow()} {
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
	in.Text = strings.TrimSpace(locales.NFC(in.Text))
	c := &turn{e: e, s: s, in: in}
	c.run()
	return Result{Session: c.s, Replies: c.replies, Report: c.report}
}

// turn is the work of one Step.
type turn struct {
	e       *Engine
	s       Session
	in      Input
	replies []Reply
	report  *Report
}

func (c *turn) t(id string, data map[string]any) string { return c.e.cat.T(c.s.Lang, id, data) }

func (c *turn) say(text string, choices ...Choice) {
	c.replies = append(c.replies, Reply{Text: text, Choices: choices})
}

func (c *turn) choice(id, labelID string) Choice { return Choice{ID: id, Label: c.t(labelID, nil)} }

func (c *turn) run() {
	if c.in.Unsupported && c.in.Text == "" {
		c.say(c.t("common.unsupported", nil))
		return
	}
	switch cmd := commandOf(c.in); cmd {
	case cmdCancel:
		c.cancel()
		return
	case cmdMenu:
		c.s = Session{Lang: c.s.Lang}
		c.menu()
		return
	case cmdReport:
		c.start(reportFlowName)
		return
	}
	f, ok := c.e.flows[c.s.Flow]
	if !ok {
		// No flow running and nothing recognised: offer the menu.
		c.s = Session{Lang: c.s.Lang}
		c.menu()
		return
	}
	f.handle(c)
}

func (c *turn) menu() {
	c.say(c.t("menu.greeting", nil), c.choice(choiceReport, "menu.report"))
}

func (c *turn) cancel() {
	c.s = Session{Lang: c.s.Lang}
	c.say(c.t("common.cancelled", nil))
}

func (c *turn) start(name string) {
	f := c.e.flows[name]
	c.s = Session{Lang: c.s.Lang, Flow: f.name, Step: f.steps[0].id, Answers: map[string]string{}}
	f.prompt(c, &f.steps[0])
}

// textAnswer validates a free-text answer, saying why when it is refused.
func (c *turn) textAnswer() (string, bool) {
	switch n := utf8.RuneCountInString(c.in.Text); {
	case n == 0:
		c.say(c.t("common.need_text", nil))
		return "", false
	case n > MaxTextRunes:
		c.say(c.t("common.too_long", map[string]any{"Max": MaxTextRunes}))
		return "", false
	}
	return c.in.Text, true
}
