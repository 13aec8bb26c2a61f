// Package telegram is the Telegram adapter: it turns Bot API updates into
// bot.Messages, renders replies as inline keyboards, and sends through
// go-telegram/bot. Webhooks are served by our own handler (package
// handlers), never by the library's, which answers 200 before anything is
// durable.
package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"tinbao/bot"
	"tinbao/flows"
	"tinbao/identity"
)

// Config is the Telegram part of tinbao's configuration.
type Config struct {
	Token         string
	APIURL        string // https://api.telegram.org, or a fake in tests
	WebhookSecret string // empty: long polling
	WebhookURL    string // PUBLIC_URL + /webhooks/telegram
}

// Tracker remembers the message IDs of each chat for 48 hours, the time
// Telegram lets a bot delete them, so that /xoa can wipe the conversation.
type Tracker interface {
	TrackMessages(ctx context.Context, sender string, ids ...int) error
	TakeTrackedMessages(ctx context.Context, sender string) ([]int, error)
}

// Budget is the bot's send budget, shared with the outbox across replicas
// (Redis): replies spend from it without waiting.
type Budget interface {
	// SpendReplies counts n replies and says when the first one's slot
	// comes.
	SpendReplies(ctx context.Context, key string, n int, interval time.Duration) (time.Duration, error)
}

// Adapter connects Telegram to the bot runner.
type Adapter struct {
	client   *tgbot.Bot
	files    *http.Client // downloads (a file is fetched apart from the Bot API's JSON calls)
	runner   *bot.Runner
	keys     *identity.Keyring
	tracker  Tracker
	log      *slog.Logger
	budget   Budget        // nil: replies counted nowhere
	interval time.Duration // of the budget: one message per interval
}

// spendWait bounds how long a reply waits for its budget to be counted: a
// person is waiting, and Redis being slow must not make them wait longer.
const spendWait = 50 * time.Millisecond

// replyWait is the most a reply waits for its slot, smoothing a burst of
// replies into the bot's pace; a slot further off is not waited for (the
// reply goes, and the outbox waits instead).
const replyWait = 150 * time.Millisecond

// SpendFrom counts every conversational reply against the bot's budget,
// one message per interval, shared with the outbox (delivery.Pace.Overall
// under the key "telegram"). Call it before handling updates.
func (a *Adapter) SpendFrom(b Budget, interval time.Duration) { a.budget, a.interval = b, interval }

// spend counts n replies before they go, waiting a moment for their slot
// when it is that close. They go whatever it answers: the outbox is the
// one that waits.
func (a *Adapter) spend(ctx context.Context, n int) {
	if a.budget == nil || n == 0 {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, spendWait)
	wait, err := a.budget.SpendReplies(sctx, bot.ChannelTelegram, n, a.interval)
	cancel()
	if err != nil {
		a.log.WarnContext(ctx, "telegram reply budget", "err", err)
		return
	}
	if wait > 0 && wait <= replyWait {
		time.Sleep(wait)
	}
}

// New builds the adapter. It does not call Telegram: the service starts even
// when Telegram cannot be reached, and the outbox retries. runner may be nil
// for an adapter that only sends.
func New(cfg Config, runner *bot.Runner, keys *identity.Keyring, tracker Tracker, log *slog.Logger) (*Adapter, error) {
	a := &Adapter{runner: runner, keys: keys, tracker: tracker, log: log, files: &http.Client{Timeout: 90 * time.Second}}
	opts := []tgbot.Option{
		tgbot.WithSkipGetMe(),
		tgbot.WithServerURL(cfg.APIURL),
		// Polling: one update at a time, in order, so a sender's messages
		// are never handled out of order (go-telegram/bot#64).
		tgbot.WithNotAsyncHandlers(),
		tgbot.WithWorkers(1),
		tgbot.WithHTTPClient(30*time.Second, &http.Client{Timeout: 40 * time.Second}),
		tgbot.WithAllowedUpdates(tgbot.AllowedUpdates{"message", "callback_query"}),
		tgbot.WithDefaultHandler(a.pollHandler),
		tgbot.WithErrorsHandler(func(err error) { log.Warn("telegram client", "err", err) }),
	}
	c, err := tgbot.New(cfg.Token, opts...)
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	a.client = c
	return a, nil
}

// Client exposes the Bot API client (for setWebhook at start).
func (a *Adapter) Client() *tgbot.Bot { return a.client }

// ErrMalformed means a webhook body is not a Telegram update.
var ErrMalformed = errors.New("telegram: malformed update")

// ParseUpdate decodes a webhook body.
func ParseUpdate(body []byte) (*models.Update, error) {
	var u models.Update
	if err := json.Unmarshal(body, &u); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if u.ID <= 0 {
		return nil, fmt.Errorf("%w: no update_id", ErrMalformed)
	}
	return &u, nil
}

// HandleUpdate runs one update through the bot and sends the replies. It
// returns an error only when nothing durable happened and Telegram should
// deliver the update again. Updates tinbao does not take (edits, group chatter,
// channel posts) are dropped on purpose.
func (a *Adapter) HandleUpdate(ctx context.Context, u *models.Update) error {
	// On failure the webhook answers 503 and Telegram sends the update
	// again: saying "please send again" too would apply a resent copy twice.
	return a.handle(ctx, u)
}

// handle runs an update. When it fails nothing is said: the update comes
// again (Telegram's retry, or our own when polling), and a "please send
// again" would have the person resend what is then applied twice.
func (a *Adapter) handle(ctx context.Context, u *models.Update) error {
	m, chatID, ok := a.message(ctx, u)
	if !ok {
		a.log.DebugContext(ctx, "telegram update ignored", "update_id", u.ID)
		return nil
	}
	var incoming []int
	if u.Message != nil {
		incoming = append(incoming, u.Message.ID)
	}
	out, err := a.runner.Handle(ctx, m)
	if out.Wipe {
		a.track(ctx, m.Sender, incoming...) // the /xoa itself goes too
		incoming = nil
		a.wipe(ctx, m.Sender, chatID)
	}
	sent := incoming
	if err != nil {
		out.Replies = nil
	}
	a.spend(ctx, len(out.Replies))
	for _, r := range out.Replies {
		id, serr := a.send(ctx, chatID, r)
		if serr != nil {
			// The effect is durable; the person can send again. Log only.
			a.log.WarnContext(ctx, "telegram reply not sent", "message", m, "err", serr)
			break
		}
		sent = append(sent, id)
	}
	a.track(ctx, m.Sender, sent...)
	return err
}

func (a *Adapter) track(ctx context.Context, sender string, ids ...int) {
	if a.tracker == nil {
		return
	}
	if err := a.tracker.TrackMessages(ctx, sender, ids...); err != nil {
		a.log.WarnContext(ctx, "track telegram messages", "sender", sender, "err", err)
	}
}

// wipe deletes every tracked message of the chat that Telegram still lets a
// bot delete: its own and, in a private chat, the person's, under 48 hours.
func (a *Adapter) wipe(ctx context.Context, sender string, chatID int64) {
	if a.tracker == nil {
		return
	}
	ids, err := a.tracker.TakeTrackedMessages(ctx, sender)
	if err != nil {
		a.log.WarnContext(ctx, "wipe: tracked messages", "sender", sender, "err", err)
		return
	}
	var failed []int
	for len(ids) > 0 {
		n := min(len(ids), 100) // deleteMessages takes at most 100 IDs
		if _, err := a.client.DeleteMessages(ctx, &tgbot.DeleteMessagesParams{ChatID: chatID, MessageIDs: ids[:n]}); err != nil {
			a.log.WarnContext(ctx, "wipe: delete messages", "sender", sender, "count", n, "err", err)
			// Keep them for the next /xoa: a 429 or a timeout must not
			// leave the code on the screen for good. (Messages older than
			// 48 h fail for ever; the tracking expires with them.)
			failed = append(failed, ids[:n]...)
		}
		ids = ids[n:]
	}
	a.track(context.WithoutCancel(ctx), sender, failed...)
}

// message makes a bot.Message of an update. Names, usernames and
// forwarded-from data never leave this function.
func (a *Adapter) message(ctx context.Context, u *models.Update) (bot.Message, int64, bool) {
	m := bot.Message{Channel: bot.ChannelTelegram, MessageID: strconv.FormatInt(u.ID, 10)}
	var chat models.Chat
	switch {
	case u.Message != nil:
		msg := u.Message
		chat = msg.Chat
		m.Text = msg.Text
		if msg.Date > 0 {
			m.SentAt = time.Unix(int64(msg.Date), 0)
		}
		if msg.From != nil {
			m.LangHint = msg.From.LanguageCode
		}
		if msg.Location != nil {
			m.Location = &flows.Location{Lat: msg.Location.Latitude, Lon: msg.Location.Longitude}
		}
		m.Media = media(msg)
		if m.Text == "" {
			m.Text = msg.Caption
		}
		// A contact card carries a phone number: never read it.
		if m.Text == "" && m.Location == nil && len(m.Media) == 0 {
			m.Unsupported = true
		}
	case u.CallbackQuery != nil:
		q := u.CallbackQuery
		// Always answer, or the person's client shows a spinner.
		if _, err := a.client.AnswerCallbackQuery(ctx, &tgbot.AnswerCallbackQueryParams{CallbackQueryID: q.ID}); err != nil {
			a.log.WarnContext(ctx, "answer callback query", "update_id", u.ID, "err", err)
		}
		if q.Message.Message == nil { // too old: Telegram no longer shows it
			return m, 0, false
		}
		chat = q.Message.Message.Chat
		if q.From.ID != chat.ID {
			// In a private chat the chat is the person: a press from anyone
			// else (a forwarded or shared message) is not theirs to apply.
			a.log.InfoContext(ctx, "callback from someone else than the chat's owner ignored", "update_id", u.ID)
			return m, 0, false
		}
		m.Choice = q.Data
		m.LangHint = q.From.LanguageCode
		// The choice is made: take the keyboard away so it is not pressed twice.
		if _, err := a.client.EditMessageReplyMarkup(ctx, &tgbot.EditMessageReplyMarkupParams{
			ChatID: chat.ID, MessageID: q.Message.Message.ID}); err != nil {
			a.log.DebugContext(ctx, "remove keyboard", "update_id", u.ID, "err", err)
		}
	default:
		return m, 0, false
	}
	if chat.Type != models.ChatTypePrivate {
		return m, 0, false // tinbao talks to people one to one
	}
	m.Handle = strconv.FormatInt(chat.ID, 10)
	m.Sender = a.keys.Pseudonym(bot.ChannelTelegram, m.Handle)
	return m, chat.ID, true
}

// media lists a message's attachments by file ID. For a photo, Telegram
// sends several sizes: keep the largest.
func media(msg *models.Message) []flows.Media {
	var out []flows.Media
	if n := len(msg.Photo); n > 0 {
		p := msg.Photo[n-1]
		out = append(out, flows.Media{Kind: "photo", FileID: p.FileID, Mime: "image/jpeg", Size: int64(p.FileSize)})
	}
	if d := msg.Document; d != nil {
		// A photo sent "as a file" keeps its EXIF; to the person it is a
		// photo all the same (and is cleaned like one).
		kind := "document"
		if strings.HasPrefix(d.MimeType, "image/") {
			kind = "photo"
		}
		out = append(out, flows.Media{Kind: kind, FileID: d.FileID, Mime: d.MimeType, Size: d.FileSize})
	}
	if v := msg.Video; v != nil {
		out = append(out, flows.Media{Kind: "video", FileID: v.FileID, Mime: v.MimeType, Size: v.FileSize})
	}
	if v := msg.Voice; v != nil {
		out = append(out, flows.Media{Kind: "voice", FileID: v.FileID, Mime: v.MimeType, Size: v.FileSize})
	}
	return out
}

// inlineKeyboard is our own markup type: the library's button struct always
// sends "copy_text":{"text":""}, which Telegram may refuse.
type inlineKeyboard struct {
	Rows [][]inlineButton `json:"inline_keyboard"`
}

type inlineButton struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data"`
}

func keyboard(choices []flows.Choice) any {
	if len(choices) == 0 {
		return nil
	}
	var kb inlineKeyboard
	for _, c := range choices {
		kb.Rows = append(kb.Rows, []inlineButton{{Text: c.Label, CallbackData: c.ID}})
	}
	return kb
}

func (a *Adapter) send(ctx context.Context, chatID int64, r flows.Reply) (int, error) {
	p := &tgbot.SendMessageParams{ChatID: chatID, Text: r.Text}
	if kb := keyboard(r.Choices); kb != nil {
		p.ReplyMarkup = kb
	}
	msg, err := a.client.SendMessage(ctx, p)
	if err != nil {
		return 0, err
	}
	return msg.ID, nil
}

// SendText sends one durable message from the outbox to a handle (a chat ID)
// and returns Telegram's message ID.
func (a *Adapter) SendText(ctx context.Context, handle, text string) (string, error) {
	return a.sendDurable(ctx, handle, flows.Reply{Text: text})
}

// SendWithMenu sends a durable message to a reporter with the menu's
// buttons below it (in lang), so that nothing ends at a dead end.
func (a *Adapter) SendWithMenu(ctx context.Context, handle, text, lang string) (string, error) {
	r := flows.Reply{Text: text}
	if a.runner != nil {
		r.Choices, r.Menu = a.runner.Engine().Menu(lang), true
	}
	return a.sendDurable(ctx, handle, r)
}

func (a *Adapter) sendDurable(ctx context.Context, handle string, r flows.Reply) (string, error) {
	text := r.Text
	chatID, err := strconv.ParseInt(handle, 10, 64)
	if err != nil {
		return "", fmt.Errorf("telegram: bad handle")
	}
	id, err := a.send(ctx, chatID, r)
	var moved *tgbot.MigrateError
	if errors.As(err, &moved) && moved.MigrateToChatID != 0 {
		// A group (the officers') became a supergroup: its ID changed.
		// Deliver there rather than lose an alert, and tell the operator.
		a.log.WarnContext(ctx, "telegram group became a supergroup: set TELEGRAM_OFFICER_CHAT_ID to its new ID")
		chatID = int64(moved.MigrateToChatID)
		id, err = a.send(ctx, chatID, flows.Reply{Text: text})
	}
	if err != nil {
		return "", classify(err)
	}
	// The acknowledgement carries the reference code: a wipe must find it.
	a.track(ctx, a.keys.Pseudonym(bot.ChannelTelegram, handle), id)
	return strconv.Itoa(id), nil
}

// classify tells the outbox what a send error means: wait exactly as long as
// Telegram asks, stop for good when the person blocked the bot or the chat is
// gone, retry anything else.
func classify(err error) error {
	var tooMany *tgbot.TooManyRequestsError
	switch {
	case errors.As(err, &tooMany):
		return &bot.RetryAfterError{After: time.Duration(tooMany.RetryAfter) * time.Second, Err: err}
	case errors.Is(err, tgbot.ErrorForbidden), errors.Is(err, tgbot.ErrorBadRequest):
		// Blocked by the person, the chat gone: retrying cannot help.
		return fmt.Errorf("%w: %v", bot.ErrUndeliverable, err)
	}
	// Anything else, 401 and 404 included (a wrong token or API URL, which
	// an operator fixes), is retried with backoff: queued messages must
	// survive a configuration mistake.
	return err
}

// SetWebhook points Telegram at our webhook with the shared secret.
func (a *Adapter) SetWebhook(ctx context.Context, url, secret string) error {
	_, err := a.client.SetWebhook(ctx, &tgbot.SetWebhookParams{
		URL: url, SecretToken: secret, AllowedUpdates: []string{"message", "callback_query"},
	})
	if err != nil {
		return fmt.Errorf("set webhook: %w", err)
	}
	return nil
}

// Poll receives updates by long polling until ctx ends (development, or where
// no public URL exists). It first removes any webhook, which would make
// getUpdates fail.
func (a *Adapter) Poll(ctx context.Context) {
	if _, err := a.client.DeleteWebhook(ctx, &tgbot.DeleteWebhookParams{}); err != nil {
		a.log.WarnContext(ctx, "delete webhook before polling", "err", err)
	}
	a.client.Start(ctx)
}

// pollHandler handles a polled update. The library has already advanced its
// offset, so a failure here would lose the update: keep retrying while the
// process lives (the next updates wait, which keeps order).
func (a *Adapter) pollHandler(ctx context.Context, _ *tgbot.Bot, u *models.Update) {
	wait := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		// The library has moved its offset: finish this update even if
		// shutdown begins.
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		err := a.handle(hctx, u)
		cancel()
		if err == nil || ctx.Err() != nil {
			return
		}
		a.log.WarnContext(ctx, "polled update failed, retrying", "update_id", u.ID, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// ErrFileTooBig means a file is larger than the caller takes, or than a bot
// may download (20 MB): it is not fetched.
var ErrFileTooBig = errors.New("telegram: file too big")

// Download fetches a file a person sent, by its file ID: getFile names its
// path, then the bytes come from <api>/file/bot<token>/<path>, max at most.
// Errors never carry the download URL, which holds the bot's token.
func (a *Adapter) Download(ctx context.Context, fileID string, max int64) ([]byte, error) {
	f, err := a.client.GetFile(ctx, &tgbot.GetFileParams{FileID: fileID})
	switch {
	case err != nil && errors.Is(err, tgbot.ErrorBadRequest) && strings.Contains(err.Error(), "too big"):
		return nil, ErrFileTooBig
	case err != nil:
		return nil, fmt.Errorf("telegram getFile: %w", err)
	case f.FileSize > max:
		return nil, ErrFileTooBig
	case f.FilePath == "":
		return nil, errors.New("telegram getFile: no file path")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.client.FileDownloadLink(f), nil)
	if err != nil {
		return nil, errors.New("telegram download: bad file path")
	}
	resp, err := a.files.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL and its token
		}
		return nil, fmt.Errorf("telegram download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("telegram download: status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("telegram download: %w", err)
	case int64(len(data)) > max:
		return nil, ErrFileTooBig
	}
	return data, nil
}
