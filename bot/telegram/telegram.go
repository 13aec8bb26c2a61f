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
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
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

// Adapter connects Telegram to the bot runner.
type Adapter struct {
	client *tgbot.Bot
	files  *http.Client // downloads (a file is fetched apart from the Bot API's JSON calls)
	runner *bot.Runner
	keys   *identity.Keyring
	log    *slog.Logger
	chores chan func(context.Context) // calls off the request path (see later)
	done   chan struct{}
	// Dropped counts the calls later refused because its queue was full.
	Dropped atomic.Int64
}

// replyWait is the most a reply waits for its slot in the bot's send
// budget (counted with the session, bot.Outcome.Wait), smoothing a burst of
// replies into the bot's pace; a slot further off is not waited for (the
// reply goes, and the outbox waits instead).
const replyWait = 150 * time.Millisecond

// Chores bounds the calls waiting off the request path; choreWorkers make
// them. Past the bound a chore is dropped: they are only callback answers
// and keyboard removals, never a reply.
const (
	Chores       = 1024
	choreWorkers = 4
)

// transport is one connection pool for every Bot API call: the default
// keeps 2 idle connections per host, so 16 concurrent webhooks opened a new
// TCP (and, in production, TLS) connection for most calls.
func transport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// New builds the adapter. It does not call Telegram: the service starts even
// when Telegram cannot be reached, and the outbox retries. runner may be nil
// for an adapter that only sends. Close stops its background calls.
func New(cfg Config, runner *bot.Runner, keys *identity.Keyring, log *slog.Logger) (*Adapter, error) {
	a := &Adapter{runner: runner, keys: keys, log: log, files: &http.Client{Timeout: 90 * time.Second}, chores: make(chan func(context.Context), Chores), done: make(chan struct{})}
	opts := []tgbot.Option{
		tgbot.WithSkipGetMe(),
		tgbot.WithServerURL(cfg.APIURL),
		// Polling: one update at a time, in order, so a sender's messages
		// are never handled out of order (go-telegram/bot#64).
		tgbot.WithNotAsyncHandlers(),
		tgbot.WithWorkers(1),
		tgbot.WithHTTPClient(30*time.Second, &http.Client{Timeout: 40 * time.Second, Transport: transport()}),
		tgbot.WithAllowedUpdates(tgbot.AllowedUpdates{"message", "callback_query"}),
		tgbot.WithDefaultHandler(a.pollHandler),
		tgbot.WithErrorsHandler(func(err error) { log.Warn("telegram client", "err", err) }),
	}
	c, err := tgbot.New(cfg.Token, opts...)
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	a.client = c
	for range choreWorkers {
		go a.work()
	}
	return a, nil
}

// Close stops the background calls; those still queued are dropped.
func (a *Adapter) Close() { close(a.done) }

func (a *Adapter) work() {
	for {
		select {
		case <-a.done:
			return
		case f := <-a.chores:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			f(ctx)
			cancel()
		}
	}
}

// later queues a call nobody waits for. It never blocks: with the queue
// full the call is dropped (a spinner that stops by itself, a keyboard
// left in place whose late press the flows answer as any stale one).
func (a *Adapter) later(f func(context.Context)) {
	select {
	case a.chores <- f:
	default:
		if a.Dropped.Add(1)%100 == 1 {
			a.log.Warn("telegram background calls dropped: queue full", "count", a.Dropped.Load())
		}
	}
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

// Call is one Bot API method call carried by the webhook's HTTP response:
// Telegram makes it after our answer, and says nothing back, so it carries
// only a call whose result we do not need: the turn's last reply.
type Call struct {
	Method      string `json:"method"`
	ChatID      int64  `json:"chat_id"`
	Text        string `json:"text"`
	ReplyMarkup any    `json:"reply_markup,omitempty"`
}

// HandleUpdate runs one webhook update through the bot. It returns the call
// to put in the HTTP response (nil: none), and an error only when nothing
// durable happened and Telegram should deliver the update again. Updates
// tinbao does not take (edits, group chatter, channel posts) are dropped on
// purpose.
func (a *Adapter) HandleUpdate(ctx context.Context, u *models.Update) (*Call, error) {
	// On failure the webhook answers 503 and Telegram sends the update
	// again: saying "please send again" too would apply a resent copy twice.
	return a.handle(ctx, u, true)
}

// handle runs an update. When it fails nothing is said: the update comes
// again (Telegram's retry, or our own when polling), and a "please send
// again" would have the person resend what is then applied twice. With
// webhook, the turn's last reply is returned for the HTTP response instead
// of being sent: the replies before it are sent first, so the order holds,
// and a turn of one reply (most) waits for no Bot API call at all.
func (a *Adapter) handle(ctx context.Context, u *models.Update, webhook bool) (*Call, error) {
	m, chatID, ok := a.message(u)
	if !ok {
		a.log.DebugContext(ctx, "telegram update ignored", "update_id", u.ID)
		return nil, nil
	}
	out, err := a.runner.Handle(ctx, m)
	if err != nil {
		return nil, err
	}
	if out.Wait > 0 && out.Wait <= replyWait {
		time.Sleep(out.Wait)
	}
	if out.Wipe {
		a.wipe(ctx, m, chatID, out)
	}
	replies := out.Replies
	var last *Call
	if webhook && len(replies) > 0 {
		r := replies[len(replies)-1]
		last = &Call{Method: "sendMessage", ChatID: chatID, Text: r.Text, ReplyMarkup: keyboard(r.Choices)}
		replies = replies[:len(replies)-1]
	}
	for _, r := range replies {
		if _, serr := a.send(ctx, chatID, r); serr != nil {
			// The effect is durable; the person can send again. Log only.
			a.log.WarnContext(ctx, "telegram reply not sent", "message", m, "err", serr)
			return nil, nil // the rest would come out of order
		}
	}
	return last, nil
}

// wipeMargin: positions past the last one seen that a wipe deletes too. A
// press adds no message of its own, and the bot's replies to it (sent in
// webhook responses, whose IDs we never learn) follow the pressed message;
// positions that do not exist yet are skipped by deleteMessages.
const wipeMargin = 20

// maxWipe bounds a wipe's calls (100 positions each): Telegram lets a bot
// delete only messages of the last 48 hours, and a conversation that long
// ago began is unlikely to hold more.
const maxWipe = 1000

// wipe deletes the conversation's range of positions: in a private chat,
// message IDs are one sequence shared by both sides, so the range holds
// every message of the conversation, the person's and ours, the
// acknowledgement with its code included, without a list of IDs. Telegram
// skips the IDs it cannot find. Where the range is unknown (the record ran
// out), the last positions before this one go.
func (a *Adapter) wipe(ctx context.Context, m bot.Message, chatID int64, out bot.Outcome) {
	last := max(out.Last, m.Position) + wipeMargin
	first := out.First
	if first <= 0 {
		first = last - 100
	}
	first = max(first, last-maxWipe+1, 1)
	for from := first; from <= last; from += 100 {
		ids := make([]int, 0, 100)
		for id := from; id <= last && id < from+100; id++ {
			ids = append(ids, int(id))
		}
		if _, err := a.client.DeleteMessages(ctx, &tgbot.DeleteMessagesParams{ChatID: chatID, MessageIDs: ids}); err != nil {
			// The range stays in the record: the next /xoa tries again.
			a.log.WarnContext(ctx, "wipe: delete messages", "message", m, "count", len(ids), "err", err)
		}
	}
}

// message makes a bot.Message of an update. Names, usernames and
// forwarded-from data never leave this function.
func (a *Adapter) message(u *models.Update) (bot.Message, int64, bool) {
	m := bot.Message{Channel: bot.ChannelTelegram, MessageID: strconv.FormatInt(u.ID, 10)}
	var chat models.Chat
	switch {
	case u.Message != nil:
		msg := u.Message
		chat = msg.Chat
		m.Position = int64(msg.ID)
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
		// Always answer, or the person's client shows a spinner; nobody
		// waits for it, so not on the request path.
		a.later(func(ctx context.Context) {
			if _, err := a.client.AnswerCallbackQuery(ctx, &tgbot.AnswerCallbackQueryParams{CallbackQueryID: q.ID}); err != nil {
				a.log.WarnContext(ctx, "answer callback query", "update_id", u.ID, "err", err)
			}
		})
		if q.Message.Message == nil { // too old: Telegram no longer shows it
			return m, 0, false
		}
		chat = q.Message.Message.Chat
		if q.From.ID != chat.ID {
			// In a private chat the chat is the person: a press from anyone
			// else (a forwarded or shared message) is not theirs to apply.
			a.log.Info("callback from someone else than the chat's owner ignored", "update_id", u.ID)
			return m, 0, false
		}
		m.Choice = q.Data
		m.LangHint = q.From.LanguageCode
		m.Position = int64(q.Message.Message.ID)
		// The choice is made: take the keyboard away so it is not pressed
		// twice. The next question does not wait for it.
		chatID, msgID := chat.ID, q.Message.Message.ID
		a.later(func(ctx context.Context) {
			if _, err := a.client.EditMessageReplyMarkup(ctx, &tgbot.EditMessageReplyMarkupParams{
				ChatID: chatID, MessageID: msgID}); err != nil {
				a.log.DebugContext(ctx, "remove keyboard", "update_id", u.ID, "err", err)
			}
		})
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

// keyboard puts each choice on a row of its own. The rows share one array
// of buttons: two allocations for the whole keyboard, not one per row.
func keyboard(choices []flows.Choice) any {
	if len(choices) == 0 {
		return nil
	}
	buttons := make([]inlineButton, len(choices))
	kb := inlineKeyboard{Rows: make([][]inlineButton, len(choices))}
	for i, c := range choices {
		buttons[i] = inlineButton{Text: c.Label, CallbackData: c.ID}
		kb.Rows[i] = buttons[i : i+1 : i+1]
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
	// The acknowledgement, with its code, needs no tracking: it lands in
	// the chat's range of positions, which a wipe deletes.
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
		_, err := a.handle(hctx, u, false)
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
