// Package web is the web chat adapter: a browser session, known only by a
// random cookie, talks to the same flows as Telegram and SMS. Durable
// messages (the acknowledgement) wait in a per-sender inbox that the page
// collects.
package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"tinbao/bot"
	"tinbao/flows"
	"tinbao/identity"
)

// Inbox keeps the messages waiting for a web chat page.
type Inbox interface {
	PushInbox(ctx context.Context, sender, text string) (string, error)
	TakeInbox(ctx context.Context, sender string) ([]string, error)
	// ReadInbox drops the first shown messages and returns the rest.
	ReadInbox(ctx context.Context, sender string, shown int) ([]string, error)
}

// Upload is a photo from the page, already cleaned of its metadata.
type Upload struct {
	ContentType   string // sniffed: image/jpeg or image/png
	Original      []byte
	Clean         []byte
	Width, Height int
}

// Uploads keeps photos sent before their report exists.
type Uploads interface {
	// KeepUpload stores the photo, sealed, for the sender and returns the
	// file ID that names it in the conversation; ErrTooManyUploads when
	// the sender has as many waiting as a report can carry.
	KeepUpload(ctx context.Context, sender string, u Upload) (string, error)
	// ForgetUploads deletes the sender's waiting photos.
	ForgetUploads(ctx context.Context, sender string) error
}

// ErrTooManyUploads means the sender has sent as many photos as a report
// can carry.
var ErrTooManyUploads = errors.New("web: too many photos")

// Adapter connects web chat sessions to the bot runner.
type Adapter struct {
	runner  *bot.Runner
	keys    *identity.Keyring
	inbox   Inbox
	uploads Uploads // nil: photos are refused
}

// TakeUploads lets the page send photos, kept in u until the report is
// committed. Call it before handling messages.
func (a *Adapter) TakeUploads(u Uploads) { a.uploads = u }

// Photo keeps a photo the page uploaded and runs it as a message with one
// attachment, as Telegram's photos are: the flows keep it with the report
// (the summary counts it) and the commit attaches it.
func (a *Adapter) Photo(ctx context.Context, sessionID, messageID string, u Upload) (bot.Outcome, error) {
	if !ValidSessionID(sessionID) || !messageIDPattern.MatchString(messageID) || a.uploads == nil {
		return bot.Outcome{}, ErrBadInput
	}
	sender := a.sender(sessionID)
	fileID, err := a.uploads.KeepUpload(ctx, sender, u)
	if err != nil {
		return bot.Outcome{}, err
	}
	return a.runner.Handle(ctx, bot.Message{
		Channel:   bot.ChannelWeb,
		Sender:    sender,
		Handle:    sessionID,
		MessageID: messageID,
		Media:     []flows.Media{{Kind: "photo", FileID: fileID, Mime: u.ContentType, Size: int64(len(u.Original))}},
		Seq:       flows.SeqAfterReply,
	})
}

// New builds the adapter; runner may be nil for an adapter that only sends.
func New(runner *bot.Runner, keys *identity.Keyring, inbox Inbox) *Adapter {
	return &Adapter{runner: runner, keys: keys, inbox: inbox}
}

// Issue makes a session for a browser: its ID, and the cookie value that
// proves tinbao issued it (the ID and a keyed MAC of it). A value nobody was
// given never becomes a session, so nobody can plant one in another's
// browser and read it later.
func (a *Adapter) Issue() (id, cookie string) {
	id = NewSessionID()
	return id, id + "." + a.proof(id)
}

// Session returns the session a cookie value proves, or false for a value
// tinbao did not issue.
func (a *Adapter) Session(cookie string) (string, bool) {
	id, proof, ok := strings.Cut(cookie, ".")
	if !ok || !ValidSessionID(id) || subtle.ConstantTimeCompare([]byte(proof), []byte(a.proof(id))) != 1 {
		return "", false
	}
	return id, true
}

func (a *Adapter) proof(id string) string { return a.keys.Pseudonym("web-session-proof", id) }

// NewSessionID returns a fresh, unguessable session ID for a browser.
func NewSessionID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var (
	sessionIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	messageIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// ErrBadInput means a session or message ID is malformed.
var ErrBadInput = errors.New("web: malformed input")

// ValidSessionID reports whether id could have come from NewSessionID.
func ValidSessionID(id string) bool { return sessionIDPattern.MatchString(id) }

// Incoming is one message from the page.
type Incoming struct {
	ID     string // the page's own ID for the message, for dedupe on retries
	Text   string
	Choice string
	Lang   string // the browser's language, for a new conversation
	// Queued: typed while the previous message was still on its way, so
	// before its reply was shown (a burst).
	Queued bool
	// Greeted: the page has shown an answer already (its opening menu and
	// privacy notice), so a session that starts now need not repeat them.
	Greeted bool
	// Address is the client's address as the handlers read it (IPv6 by
	// /64): kept only as a keyed pseudonym, for the per-address limits.
	Address string
}

// Opening answers the page's opening request (ask again, with nothing
// pending: the menu and the privacy notice) when the browser has no session,
// without making one: opening the page writes nothing anywhere. false: in is
// not an opening.
func (a *Adapter) Opening(in Incoming) (bot.Outcome, bool) {
	if strings.TrimSpace(in.Text) != "" || in.Choice != flows.ChoiceAgain {
		return bot.Outcome{}, false
	}
	res := a.runner.Engine().Step(flows.Session{}, flows.Input{Channel: bot.ChannelWeb, Choice: in.Choice,
		LangHint: in.Lang, Now: time.Now()})
	return bot.Outcome{Replies: res.Replies, Lang: res.Session.Lang}, true
}

// AdmitSession counts a new session for the client's address and says
// whether it may have one (bot.Limits.NewSessionsPerAddress): each session is
// a cookie and a few Redis keys, and a script could ask for them by the
// thousand.
func (a *Adapter) AdmitSession(ctx context.Context, address string) (bool, error) {
	return a.runner.Allow(ctx, "web-session:"+a.addressKey(address), a.runner.Limits().NewSessionsPerAddress)
}

// addressKey is the client address as the limits know it: a keyed
// pseudonym, so Redis never holds an address in clear.
func (a *Adapter) addressKey(address string) string {
	if address == "" {
		return ""
	}
	return a.keys.Pseudonym("web-address", address)
}

func (a *Adapter) sender(sessionID string) string {
	return a.keys.Pseudonym(bot.ChannelWeb, sessionID)
}

// Check refuses a message the page could not have sent: a malformed
// message ID, a choice longer than any button's, or nothing said at all.
func (in Incoming) Check() error {
	if !messageIDPattern.MatchString(in.ID) || len(in.Choice) > 64 || (strings.TrimSpace(in.Text) == "" && in.Choice == "") {
		return ErrBadInput
	}
	return nil
}

// Handle runs one message of a browser session.
func (a *Adapter) Handle(ctx context.Context, sessionID string, in Incoming) (bot.Outcome, error) {
	if !ValidSessionID(sessionID) || in.Check() != nil {
		return bot.Outcome{}, ErrBadInput
	}
	return a.runner.Handle(ctx, bot.Message{
		Channel:   bot.ChannelWeb,
		Sender:    a.sender(sessionID),
		Handle:    sessionID,
		MessageID: in.ID,
		Text:      in.Text,
		Choice:    in.Choice,
		LangHint:  in.Lang,
		Seq:       seq(in.Queued),
		Address:   a.addressKey(in.Address),
		Greeted:   in.Greeted,
	})
}

func seq(queued bool) flows.Sequence {
	if queued {
		return flows.SeqBurst
	}
	return flows.SeqAfterReply
}

// Collect returns the durable messages waiting for the page, after dropping
// the first shown ones, which the page has displayed.
func (a *Adapter) Collect(ctx context.Context, sessionID string, shown int) ([]string, error) {
	if !ValidSessionID(sessionID) || shown < 0 {
		return nil, ErrBadInput
	}
	return a.inbox.ReadInbox(ctx, a.sender(sessionID), shown)
}

// Exit forgets the session and whatever waits for it: the quick exit. A
// cry for help in it is filed first (bot.Runner.Exit).
func (a *Adapter) Exit(ctx context.Context, sessionID string) error {
	if !ValidSessionID(sessionID) {
		return ErrBadInput
	}
	sender := a.sender(sessionID)
	if _, err := a.inbox.TakeInbox(ctx, sender); err != nil {
		return err
	}
	// A cry for help is filed first, with the photos sent for it (they
	// were forgotten before the filing took them: review).
	if err := a.runner.Exit(ctx, bot.ChannelWeb, sender); err != nil {
		return err
	}
	if a.uploads != nil {
		// Photos sent for a report never made go with the session.
		if err := a.uploads.ForgetUploads(ctx, sender); err != nil {
			return err
		}
	}
	return nil
}

// SendText puts a durable message (from the outbox) in the session's inbox.
func (a *Adapter) SendText(ctx context.Context, handle, text string) (string, error) {
	if !ValidSessionID(handle) {
		return "", fmt.Errorf("%w: bad web handle", bot.ErrUndeliverable)
	}
	return a.inbox.PushInbox(ctx, a.sender(handle), text)
}

// Engine is the conversations' engine, for the page's texts.
func (a *Adapter) Engine() *flows.Engine { return a.runner.Engine() }

// Menu is the menu's buttons in lang, offered after durable messages.
func (a *Adapter) Menu(lang string) []flows.Choice { return a.runner.Engine().Menu(lang) }

// Render is the JSON shape of a reply for the page.
type Render struct {
	Text    string       `json:"text"`
	Choices []RenderItem `json:"choices,omitempty"`
	Attach  bool         `json:"attach,omitempty"` // offer the photo button
	// Call: the emergency numbers, whose phone numbers are buttons to call;
	// elsewhere numbers stay text.
	Call bool `json:"call,omitempty"`
}

// RenderItem is one button.
type RenderItem struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// Replies renders replies for the page: buttons, as on Telegram.
func Replies(rs []flows.Reply) []Render {
	out := make([]Render, 0, len(rs))
	for _, r := range rs {
		item := Render{Text: r.Text, Attach: r.Attach, Call: r.Numbers}
		for _, c := range r.Choices {
			item.Choices = append(item.Choices, RenderItem{ID: c.ID, Label: c.Label})
		}
		out = append(out, item)
	}
	return out
}
