// Package telegramtest is a fake Telegram Bot API for tests.
//
// It speaks the real wire protocol of github.com/go-telegram/bot v1.19.0:
// requests are POST /bot<token>/<method> with a multipart/form-data body
// (strings raw, every other value json.Marshal'ed with surrounding quotes
// trimmed), answers are the Bot API envelope
//
//	{"ok":…,"result":…,"description":…,"error_code":…,"parameters":{"retry_after":…,"migrate_to_chat_id":…}}
//
// The client ignores the HTTP status and reads only the envelope; the fake
// still sets a realistic status (200, 400, 401, 403, 404, 409, 429).
//
// Point a real client at it:
//
//	s := telegramtest.NewServer(t)
//	b, err := bot.New(telegramtest.Token, bot.WithServerURL(s.URL))
//
// The server listens on 127.0.0.1 only, refuses non-loopback peers and is
// closed at t.Cleanup. It is meant to be imported from _test.go files and
// dev tools only, never from production code.
package telegramtest

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Token is the bot token the fake accepts. It has the shape of a real token
// (<bot id>:<35 chars of [A-Za-z0-9_-]>). Requests for any other token get
// {"ok":false,"error_code":401,"description":"Unauthorized"} (HTTP 401).
const Token = "123456:TEST-token_for-fake-0123456789abcde"

// Identity of the fake bot, as returned by getMe and used as "from" in the
// messages it sends.
const (
	BotID        int64 = 1
	BotFirstName       = "Tinbao Test"
	BotUsername        = "tinbao_test_bot"
)

// FirstMessageID is the message_id of the first message in each chat. As in
// a real private chat, a chat's messages are numbered in one sequence shared
// by both sides: each successful sendMessage takes the next one, and so does
// each message the person sends (NewMessageID).
const FirstMessageID = 1000

// MaxPollWait caps how long getUpdates waits for updates, whatever timeout
// the client asks for, so tests stay fast.
const MaxPollWait = 2 * time.Second

const maxBodyBytes = 32 << 20

// Call is one request received by the fake, successful or not.
type Call struct {
	Method string
	// Params holds the form fields as the client sent them. Multipart,
	// urlencoded and JSON bodies (and URL query parameters) are accepted;
	// JSON values are re-encoded the way go-telegram/bot sends them:
	// strings raw, everything else as compact JSON text (chat_id "42",
	// reply_markup `{"inline_keyboard":…}`). For an uploaded file the value
	// is its file name.
	Params map[string]string
	At     time.Time
	// InResponse: the call came in a webhook's HTTP response (Respond), not
	// from the bot's own client.
	InResponse bool
}

// Sent is one successful sendMessage.
type Sent struct {
	ChatID    int64
	MessageID int
	// Text is the text as sent (parse_mode markup is not interpreted).
	Text string
	// ReplyMarkup is the raw reply_markup field ("" if none).
	ReplyMarkup string
	At          time.Time
}

// Error is a Bot API error answer.
type Error struct {
	Code            int    // error_code, also used as HTTP status
	Description     string // e.g. "Forbidden: bot was blocked by the user"
	RetryAfter      int    // parameters.retry_after (429)
	MigrateToChatID int64  // parameters.migrate_to_chat_id (400)
}

// Canned errors, worded as the real Bot API words them.
var (
	// BlockedByUser → bot.ErrorForbidden.
	BlockedByUser = Error{Code: http.StatusForbidden, Description: "Forbidden: bot was blocked by the user"}
	// UserDeactivated → bot.ErrorForbidden.
	UserDeactivated = Error{Code: http.StatusForbidden, Description: "Forbidden: user is deactivated"}
	// ChatNotFound → bot.ErrorBadRequest.
	ChatNotFound = Error{Code: http.StatusBadRequest, Description: "Bad Request: chat not found"}
)

// TooManyRequests is a 429 with parameters.retry_after; the client returns
// *bot.TooManyRequestsError with RetryAfter set.
func TooManyRequests(retryAfter int) Error {
	return Error{
		Code:        http.StatusTooManyRequests,
		Description: fmt.Sprintf("Too Many Requests: retry after %d", retryAfter),
		RetryAfter:  retryAfter,
	}
}

// ChatMigrated is the 400 answered for a group upgraded to a supergroup; the
// client returns *bot.MigrateError with MigrateToChatID set.
func ChatMigrated(newChatID int64) Error {
	return Error{
		Code:            http.StatusBadRequest,
		Description:     "Bad Request: group chat was upgraded to a supergroup chat",
		MigrateToChatID: newChatID,
	}
}

var (
	errUnauthorized   = Error{Code: http.StatusUnauthorized, Description: "Unauthorized"}
	errNotFound       = Error{Code: http.StatusNotFound, Description: "Not Found"}
	errMethodNotFound = Error{Code: http.StatusNotFound, Description: "Not Found: method not found"}
	errChatIDEmpty    = Error{Code: http.StatusBadRequest, Description: "Bad Request: chat_id is empty"}
	errTextEmpty      = Error{Code: http.StatusBadRequest, Description: "Bad Request: message text is empty"}
	// errTextTooLong is Telegram's answer to a text over MaxText.
	errTextTooLong   = Error{Code: http.StatusBadRequest, Description: "Bad Request: message is too long"}
	errNoMessageID   = Error{Code: http.StatusBadRequest, Description: "Bad Request: message identifier is not specified"}
	errBadMarkup     = Error{Code: http.StatusBadRequest, Description: "Bad Request: can't parse reply keyboard markup JSON object"}
	errWebhookActive = Error{Code: http.StatusConflict, Description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"}
)

// Server is a fake Bot API. All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL; pass it to bot.WithServerURL.
	URL string

	srv    *httptest.Server
	closed chan struct{}

	mu         sync.Mutex
	calls      []Call
	sent       []Sent
	messages   map[msgKey]storedMessage // for edits
	nextMsgID  map[int64]int            // per chat: the next message_id
	fail       map[string][]Error
	failUntil  map[string]timedFailure
	updates    []queuedUpdate // sorted by id
	webhookURL string
	changed    chan struct{}         // closed and replaced whenever sent/updates change
	files      map[string]storedFile // by file_id, for getFile and downloads

	// The bot's overall rate limit (RateLimit): a bucket of perSecond
	// messages, refilled continuously.
	perSecond int
	tokens    float64
	refilled  time.Time
	throttled int
}

type storedFile struct {
	path string
	data []byte
}

type msgKey struct {
	chatID    int64
	messageID int
}

type storedMessage struct {
	date        int64
	text        string
	replyMarkup string
}

type queuedUpdate struct {
	id  int64
	raw json.RawMessage
}

// NewServer starts a fake Bot API on a loopback httptest server; it is
// closed at t.Cleanup.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := New()
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	servers.Store(s.URL, s)
	t.Cleanup(s.Close)
	return s
}

// servers are the fakes NewServer started, by URL.
var servers sync.Map

// ByURL returns the fake NewServer started at url (a bot's TELEGRAM_API_URL),
// or nil: a test that only knows a service's configuration finds the fake
// that must make the calls of the service's webhook responses.
func ByURL(url string) *Server {
	if s, ok := servers.Load(url); ok {
		return s.(*Server)
	}
	return nil
}

// New returns a fake that is not listening yet: serve it (it is an
// http.Handler) on an address of your choice and set URL. For dev tools such
// as faketelegram; tests use NewServer.
func New() *Server {
	return &Server{
		closed:    make(chan struct{}),
		messages:  make(map[msgKey]storedMessage),
		nextMsgID: make(map[int64]int),
		fail:      make(map[string][]Error),
		failUntil: make(map[string]timedFailure),
		changed:   make(chan struct{}),
		files:     make(map[string]storedFile),
	}
}

// FileTooBig is what getFile answers for a file over the 20 MB a bot may
// download.
var FileTooBig = Error{Code: http.StatusBadRequest, Description: "Bad Request: file is too big"}

// AddFile makes a file a person sent available to getFile (by fileID) and
// to the download URL, <URL>/file/bot<token>/<file_path>, as the real API
// serves it. Make the update that carries it with the same file ID. A
// failure queued with FailNext("download", …) answers the next download.
func (s *Server) AddFile(fileID string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[fileID] = storedFile{path: fmt.Sprintf("documents/file_%d.bin", len(s.files)), data: append([]byte(nil), data...)}
}

// Downloads counts the file downloads served (successful or not).
func (s *Server) Downloads() int { return len(s.Calls("download")) }

// serveFile answers GET /file/bot<token>/<file_path>.
func (s *Server) serveFile(w http.ResponseWriter, rest string) {
	token, path, _ := strings.Cut(rest, "/")
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: "download", Params: map[string]string{"file_path": path}, At: time.Now()})
	s.mu.Unlock()
	if token != Token {
		writeError(w, errUnauthorized)
		return
	}
	if e, failed := s.takeFailure("download"); failed {
		writeError(w, e)
		return
	}
	s.mu.Lock()
	var data []byte
	found := false
	for _, f := range s.files {
		if f.path == path {
			data, found = f.data, true
		}
	}
	s.mu.Unlock()
	if !found {
		writeError(w, errNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

func (s *Server) getFile(w http.ResponseWriter, p map[string]string) {
	s.mu.Lock()
	f, ok := s.files[p["file_id"]]
	s.mu.Unlock()
	if !ok {
		writeError(w, Error{Code: http.StatusBadRequest, Description: "Bad Request: invalid file_id"})
		return
	}
	writeOK(w, map[string]any{"file_id": p["file_id"], "file_unique_id": "u" + strconv.Itoa(len(f.path)),
		"file_size": len(f.data), "file_path": f.path})
}

// ServeHTTP answers Bot API requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serveHTTP(w, r) }

// Close releases pending long polls and stops the test server, if any.
func (s *Server) Close() {
	select {
	case <-s.closed:
		return
	default:
	}
	close(s.closed)
	servers.Delete(s.URL)
	if s.srv != nil {
		s.srv.Close()
	}
}

// Calls returns a copy of all recorded calls of method, in order; "" means
// all methods. Failed calls (wrong token, FailNext, bad params) are included.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method != "" && c.Method != method {
			continue
		}
		p := make(map[string]string, len(c.Params))
		for k, v := range c.Params {
			p[k] = v
		}
		c.Params = p
		out = append(out, c)
	}
	return out
}

// Sent returns every successful sendMessage, in order.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// SentTo returns the successful sendMessages to chatID, in order.
func (s *Server) SentTo(chatID int64) []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sentToLocked(chatID)
}

func (s *Server) sentToLocked(chatID int64) []Sent {
	var out []Sent
	for _, m := range s.sent {
		if m.ChatID == chatID {
			out = append(out, m)
		}
	}
	return out
}

// WaitSent blocks until at least n messages were sent to chatID or timeout
// elapses, and returns what was sent to chatID by then. It never fails the
// test: the caller asserts on the result.
func (s *Server) WaitSent(chatID int64, n int, timeout time.Duration) []Sent {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		got := s.sentToLocked(chatID)
		ch := s.changed
		s.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-ch:
		case <-timer.C:
			return s.SentTo(chatID)
		case <-s.closed:
			return s.SentTo(chatID)
		}
	}
}

// FailNext makes the next n calls of method answer with e instead of
// succeeding. Calls queue up: FailNext(m, 1, a) then FailNext(m, 1, b)
// fails the next call with a and the one after with b.
func (s *Server) FailNext(method string, n int, e Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.fail[method] = append(s.fail[method], e)
	}
}

// timedFailure is FailFor's switch: every call fails with e until until.
type timedFailure struct {
	e     Error
	until time.Time
}

// FailFor makes every call of method answer with e for the next d: a 429
// storm (TooManyRequests) or an outage (a 500 Error) that lasts a while,
// however many calls come, as fault drills need. Queued FailNext failures
// are answered first.
func (s *Server) FailFor(method string, d time.Duration, e Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failUntil[method] = timedFailure{e: e, until: time.Now().Add(d)}
}

// ClearFailures drops the failures still queued for method, and ends a
// FailFor switch.
func (s *Server) ClearFailures(method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.fail, method)
	delete(s.failUntil, method)
}

// PushUpdate queues a raw update (JSON) for getUpdates long polling;
// update_id is taken from the JSON. It panics if update is not a JSON
// object with a numeric update_id.
func (s *Server) PushUpdate(update []byte) {
	var head struct {
		UpdateID *int64 `json:"update_id"`
	}
	if err := json.Unmarshal(update, &head); err != nil {
		panic(fmt.Sprintf("telegramtest: PushUpdate: invalid update JSON: %v", err))
	}
	if head.UpdateID == nil {
		panic("telegramtest: PushUpdate: update has no update_id")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, update); err != nil {
		panic(fmt.Sprintf("telegramtest: PushUpdate: invalid update JSON: %v", err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updates = append(s.updates, queuedUpdate{id: *head.UpdateID, raw: buf.Bytes()})
	sort.SliceStable(s.updates, func(i, j int) bool { return s.updates[i].id < s.updates[j].id })
	s.notifyLocked()
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// serveHTTP routes /bot<token>/<method> (and /bot<token>/test/<method>).
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !isLoopback(r.RemoteAddr) {
		writeError(w, Error{Code: http.StatusForbidden, Description: "Forbidden: telegramtest serves loopback clients only"})
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeError(w, errNotFound)
		return
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/file/bot"); ok && r.Method == http.MethodGet {
		s.serveFile(w, rest)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	if !ok {
		writeError(w, errNotFound)
		return
	}
	token, method, ok := strings.Cut(rest, "/")
	method = strings.TrimPrefix(method, "test/") // bot.UseTestEnvironment()
	if !ok || token == "" || method == "" || strings.Contains(method, "/") {
		writeError(w, errNotFound)
		return
	}

	params, perr := readParams(r)
	now := time.Now()
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: method, Params: params, At: now, InResponse: r.Header.Get(responseHeader) != ""})
	s.mu.Unlock()

	if token != Token {
		writeError(w, errUnauthorized)
		return
	}
	if perr != nil {
		writeError(w, Error{Code: http.StatusBadRequest, Description: "Bad Request: " + perr.Error()})
		return
	}
	if e, failed := s.takeFailure(method); failed {
		writeError(w, e)
		return
	}
	if method == "sendMessage" {
		if e, throttled := s.throttle(now); throttled {
			writeError(w, e)
			return
		}
	}

	switch method {
	case "getMe":
		writeOK(w, botUser())
	case "sendMessage":
		s.sendMessage(w, params, now)
	case "editMessageText":
		s.editMessage(w, params, now, true)
	case "editMessageReplyMarkup":
		s.editMessage(w, params, now, false)
	case "answerCallbackQuery":
		writeOK(w, true)
	case "deleteMessages":
		var ids []int
		chatID, err := strconv.ParseInt(params["chat_id"], 10, 64)
		if err == nil && json.Unmarshal([]byte(params["message_ids"]), &ids) == nil {
			s.mu.Lock()
			for _, id := range ids {
				delete(s.messages, msgKey{chatID, id})
			}
			s.mu.Unlock()
		}
		writeOK(w, true)
	case "deleteMessage":
		if chatID, err := strconv.ParseInt(params["chat_id"], 10, 64); err == nil {
			if id, err := strconv.Atoi(params["message_id"]); err == nil {
				s.mu.Lock()
				delete(s.messages, msgKey{chatID, id})
				s.mu.Unlock()
			}
		}
		writeOK(w, true)
	case "setWebhook":
		s.mu.Lock()
		s.webhookURL = params["url"]
		if params["drop_pending_updates"] == "true" {
			s.updates = nil
		}
		s.mu.Unlock()
		desc := "Webhook was set"
		if params["url"] == "" {
			desc = "Webhook was deleted"
		}
		writeEnvelope(w, http.StatusOK, envelope{OK: true, Result: json.RawMessage("true"), Description: desc})
	case "deleteWebhook":
		s.mu.Lock()
		s.webhookURL = ""
		if params["drop_pending_updates"] == "true" {
			s.updates = nil
		}
		s.mu.Unlock()
		writeEnvelope(w, http.StatusOK, envelope{OK: true, Result: json.RawMessage("true"), Description: "Webhook was deleted"})
	case "getWebhookInfo":
		s.mu.Lock()
		info := map[string]any{
			"url":                    s.webhookURL,
			"has_custom_certificate": false,
			"pending_update_count":   len(s.updates),
		}
		s.mu.Unlock()
		writeOK(w, info)
	case "getUpdates":
		s.getUpdates(w, r, params)
	case "getFile":
		s.getFile(w, params)
	default:
		writeError(w, errMethodNotFound)
	}
}

// RateLimit makes the fake refuse sendMessage past perSecond messages a
// second in all, as Telegram refuses a bot that sends too fast: a bucket of
// perSecond messages refilled continuously; a message past it is answered
// 429 with retry_after (whole seconds, at least 1) and not sent. Zero: no
// limit (the default).
func (s *Server) RateLimit(perSecond int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perSecond, s.tokens, s.refilled = perSecond, float64(perSecond), time.Now()
}

// Throttled is how many messages the rate limit refused with a 429.
func (s *Server) Throttled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttled
}

// throttle takes a message from the bucket, or says how long to wait.
func (s *Server) throttle(now time.Time) (Error, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perSecond <= 0 {
		return Error{}, false
	}
	s.tokens = min(float64(s.perSecond), s.tokens+now.Sub(s.refilled).Seconds()*float64(s.perSecond))
	s.refilled = now
	if s.tokens >= 1 {
		s.tokens--
		return Error{}, false
	}
	s.throttled++
	wait := (1 - s.tokens) / float64(s.perSecond)
	return TooManyRequests(max(1, int(wait+0.999))), true
}

// NewMessageID numbers a message the person sends in chatID (the
// message_id of the update a test builds), in the sequence the bot's own
// messages share.
func (s *Server) NewMessageID(chatID int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeIDLocked(chatID)
}

func (s *Server) takeIDLocked(chatID int64) int {
	id, ok := s.nextMsgID[chatID]
	if !ok {
		id = FirstMessageID
	}
	s.nextMsgID[chatID] = id + 1
	return id
}

// responseHeader marks a call Respond makes on the webhook's behalf.
const responseHeader = "X-Telegramtest-Webhook-Response"

// Respond makes the method call a webhook's HTTP response body carries
// ({"method":"sendMessage","chat_id":…}), as Telegram does once it has the
// response; it reports nothing back to the bot, as Telegram does not. An
// empty body is no call. The call is recorded with InResponse set.
func (s *Server) Respond(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var call struct {
		Method string `json:"method"`
	}
	if err := json.Unmarshal(body, &call); err != nil || call.Method == "" || strings.ContainsAny(call.Method, "/?#") {
		return fmt.Errorf("telegramtest: a webhook response that is no method call: %.200s", body)
	}
	req := httptest.NewRequest(http.MethodPost, "/bot"+Token+"/"+call.Method, bytes.NewReader(body))
	req.RemoteAddr = "127.0.0.1:1"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(responseHeader, "1")
	rec := httptest.NewRecorder()
	s.serveHTTP(rec, req)
	var env struct {
		OK          bool   `json:"ok"`
		Description string `json:"description"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || !env.OK {
		return fmt.Errorf("telegramtest: webhook response call %s failed: %s", call.Method, env.Description)
	}
	return nil
}

func (s *Server) takeFailure(method string) (Error, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.fail[method]
	if len(q) == 0 {
		if f, ok := s.failUntil[method]; ok && time.Now().Before(f.until) {
			return f.e, true
		}
		return Error{}, false
	}
	e := q[0]
	if len(q) == 1 {
		delete(s.fail, method)
	} else {
		s.fail[method] = q[1:]
	}
	return e, true
}

// MaxText is the longest text Telegram sends in one message (4,096
// characters after entities are parsed; tinbao sends plain text).
const MaxText = 4096

func (s *Server) sendMessage(w http.ResponseWriter, p map[string]string, now time.Time) {
	chatID, e, ok := parseChatID(p["chat_id"])
	if !ok {
		writeError(w, e)
		return
	}
	text := p["text"]
	if strings.TrimSpace(text) == "" {
		writeError(w, errTextEmpty)
		return
	}
	if utf8.RuneCountInString(text) > MaxText {
		writeError(w, errTextTooLong)
		return
	}
	markup, ok := parseMarkup(p["reply_markup"])
	if !ok {
		writeError(w, errBadMarkup)
		return
	}

	s.mu.Lock()
	id := s.takeIDLocked(chatID)
	s.sent = append(s.sent, Sent{ChatID: chatID, MessageID: id, Text: text, ReplyMarkup: p["reply_markup"], At: now})
	s.messages[msgKey{chatID, id}] = storedMessage{date: now.Unix(), text: text, replyMarkup: p["reply_markup"]}
	s.notifyLocked()
	s.mu.Unlock()

	writeOK(w, message{
		MessageID:   id,
		From:        botUser(),
		Chat:        chatOf(chatID),
		Date:        now.Unix(),
		Text:        text,
		ReplyMarkup: markup,
	})
}

// editMessage handles editMessageText (withText) and editMessageReplyMarkup.
// As in the real API, an edit without reply_markup removes the keyboard.
func (s *Server) editMessage(w http.ResponseWriter, p map[string]string, now time.Time, withText bool) {
	if withText && strings.TrimSpace(p["text"]) == "" {
		writeError(w, errTextEmpty)
		return
	}
	markup, ok := parseMarkup(p["reply_markup"])
	if !ok {
		writeError(w, errBadMarkup)
		return
	}
	if p["inline_message_id"] != "" {
		writeOK(w, true) // inline messages: the API answers true, not a Message
		return
	}
	chatID, e, ok := parseChatID(p["chat_id"])
	if !ok {
		writeError(w, e)
		return
	}
	id, err := strconv.Atoi(p["message_id"])
	if err != nil || id == 0 {
		writeError(w, errNoMessageID)
		return
	}

	s.mu.Lock()
	m, known := s.messages[msgKey{chatID, id}]
	if !known {
		m.date = now.Unix() // not sent through this fake: be lenient
	}
	if withText {
		m.text = p["text"]
	}
	m.replyMarkup = p["reply_markup"]
	s.messages[msgKey{chatID, id}] = m
	s.mu.Unlock()

	writeOK(w, message{
		MessageID:   id,
		From:        botUser(),
		Chat:        chatOf(chatID),
		Date:        m.date,
		EditDate:    now.Unix(),
		Text:        m.text,
		ReplyMarkup: markup,
	})
}

func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request, p map[string]string) {
	offset, _ := strconv.ParseInt(p["offset"], 10, 64)
	limit, err := strconv.Atoi(p["limit"])
	if err != nil || limit <= 0 || limit > 100 {
		limit = 100
	}
	timeoutSec, _ := strconv.Atoi(p["timeout"])
	wait := time.Duration(timeoutSec) * time.Second
	if wait > MaxPollWait {
		wait = MaxPollWait
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()

	for {
		s.mu.Lock()
		if s.webhookURL != "" {
			s.mu.Unlock()
			writeError(w, errWebhookActive)
			return
		}
		s.ackLocked(offset)
		n := min(limit, len(s.updates))
		batch := make([]json.RawMessage, n)
		for i := range n {
			batch[i] = s.updates[i].raw
		}
		ch := s.changed
		s.mu.Unlock()

		if len(batch) > 0 || wait <= 0 {
			writeOK(w, batch)
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			wait = 0
		case <-s.closed:
			wait = 0
		case <-r.Context().Done():
			return
		}
	}
}

// ackLocked applies getUpdates offset semantics: updates with an id below a
// positive offset are confirmed and forgotten; a negative offset keeps only
// the last -offset updates.
func (s *Server) ackLocked(offset int64) {
	switch {
	case offset > 0:
		i := 0
		for i < len(s.updates) && s.updates[i].id < offset {
			i++
		}
		s.updates = s.updates[i:]
	case offset < 0:
		if keep := int(-offset); keep < len(s.updates) {
			s.updates = s.updates[len(s.updates)-keep:]
		}
	}
}

// readParams collects form fields from the URL query and the body
// (multipart/form-data, application/x-www-form-urlencoded or JSON).
func readParams(r *http.Request) (map[string]string, error) {
	params := make(map[string]string)
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			params[k] = v[0]
		}
	}
	if r.Body == nil {
		return params, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		return params, fmt.Errorf("can't read request body: %v", err)
	}
	// Param-less calls (getMe, getWebhookInfo, …) send an empty body with a
	// multipart Content-Type, which ParseMultipartForm rejects with
	// "multipart: NextPart: EOF".
	if len(bytes.TrimSpace(body)) == 0 {
		return params, nil
	}
	mediaType, ctParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mediaType {
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), ctParams["boundary"])
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return params, fmt.Errorf("can't parse multipart body: %v", err)
			}
			v, err := io.ReadAll(part)
			if err != nil {
				return params, fmt.Errorf("can't parse multipart body: %v", err)
			}
			name := part.FormName()
			if name == "" {
				continue
			}
			if fn := part.FileName(); fn != "" {
				params[name] = fn
			} else {
				params[name] = string(v)
			}
		}
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return params, fmt.Errorf("can't parse urlencoded body: %v", err)
		}
		for k, v := range vals {
			if len(v) > 0 {
				params[k] = v[0]
			}
		}
	case "application/json":
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			return params, fmt.Errorf("can't parse JSON body: %v", err)
		}
		for k, raw := range obj {
			var str string
			if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &str) == nil {
				params[k] = str
				continue
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return params, fmt.Errorf("can't parse JSON body: %v", err)
			}
			params[k] = buf.String()
		}
	default:
		return params, fmt.Errorf("unsupported Content-Type %q", r.Header.Get("Content-Type"))
	}
	return params, nil
}

func parseChatID(v string) (int64, Error, bool) {
	if v == "" || v == "null" {
		return 0, errChatIDEmpty, false
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id == 0 {
		return 0, ChatNotFound, false // @channelusername: not known to the fake
	}
	return id, Error{}, true
}

func parseMarkup(v string) (json.RawMessage, bool) {
	if v == "" {
		return nil, true
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(v), &obj) != nil {
		return nil, false
	}
	var buf bytes.Buffer
	if json.Compact(&buf, []byte(v)) != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

type user struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	Username  string `json:"username,omitempty"`
}

func botUser() *user {
	return &user{ID: BotID, IsBot: true, FirstName: BotFirstName, Username: BotUsername}
}

type chat struct {
	ID    int64  `json:"id"`
	Type  string `json:"type"`
	Title string `json:"title,omitempty"`
}

// chatOf derives the chat type from the id: positive = private, -100… =
// supergroup, other negative = basic group.
func chatOf(id int64) chat {
	switch {
	case id > 0:
		return chat{ID: id, Type: "private"}
	case id <= -1_000_000_000_000:
		return chat{ID: id, Type: "supergroup", Title: "Tinbao Test Supergroup"}
	default:
		return chat{ID: id, Type: "group", Title: "Tinbao Test Group"}
	}
}

type message struct {
	MessageID   int             `json:"message_id"`
	From        *user           `json:"from,omitempty"`
	Chat        chat            `json:"chat"`
	Date        int64           `json:"date"`
	EditDate    int64           `json:"edit_date,omitempty"`
	Text        string          `json:"text,omitempty"`
	ReplyMarkup json.RawMessage `json:"reply_markup,omitempty"`
}

type envelope struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result,omitempty"`
	Description string          `json:"description,omitempty"`
	ErrorCode   int             `json:"error_code,omitempty"`
	Parameters  *respParameters `json:"parameters,omitempty"`
}

type respParameters struct {
	RetryAfter      int   `json:"retry_after,omitempty"`
	MigrateToChatID int64 `json:"migrate_to_chat_id,omitempty"`
}

func writeOK(w http.ResponseWriter, result any) {
	raw, err := json.Marshal(result)
	if err != nil {
		writeError(w, Error{Code: http.StatusInternalServerError, Description: "Internal Server Error: " + err.Error()})
		return
	}
	writeEnvelope(w, http.StatusOK, envelope{OK: true, Result: raw})
}

func writeError(w http.ResponseWriter, e Error) {
	env := envelope{OK: false, ErrorCode: e.Code, Description: e.Description}
	if e.RetryAfter != 0 || e.MigrateToChatID != 0 {
		env.Parameters = &respParameters{RetryAfter: e.RetryAfter, MigrateToChatID: e.MigrateToChatID}
	}
	status := e.Code
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	writeEnvelope(w, status, env)
}

func writeEnvelope(w http.ResponseWriter, status int, env envelope) {
	body, err := json.Marshal(env)
	if err != nil {
		body = []byte(`{"ok":false,"error_code":500,"description":"Internal Server Error"}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

//go:embed testdata/*.json
var fixtures embed.FS

// Fixture returns testdata/<name> (e.g. "start.json"), a realistic Telegram
// update with a distinct update_id, ready for PushUpdate or a webhook body.
// It fails the test if the fixture does not exist.
func Fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := fixtures.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatalf("telegramtest: fixture %q: %v", name, err)
	}
	return b
}
