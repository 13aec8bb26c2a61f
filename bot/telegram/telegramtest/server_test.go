package telegramtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

func newBot(t *testing.T, s *Server, opts ...bot.Option) *bot.Bot {
	t.Helper()
	opts = append([]bot.Option{
		bot.WithServerURL(s.URL),
		bot.WithErrorsHandler(func(err error) {}), // polling errors after cancel are expected
	}, opts...)
	b, err := bot.New(Token, opts...)
	if err != nil {
		t.Fatalf("bot.New: %v", err)
	}
	return b
}

func keyboard() models.InlineKeyboardMarkup {
	return models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{
		{{Text: "Có", CallbackData: "c:yes"}, {Text: "Không", CallbackData: "c:no"}},
	}}
}

func TestGetMeAndSendMessage(t *testing.T) {
	s := NewServer(t)
	b := newBot(t, s) // calls getMe (empty multipart body)

	if got := s.Calls("getMe"); len(got) != 1 || len(got[0].Params) != 0 {
		t.Fatalf("getMe calls = %+v, want one without params", got)
	}
	me, err := b.GetMe(context.Background())
	if err != nil || me.ID != BotID || !me.IsBot || me.Username != BotUsername || me.FirstName != BotFirstName {
		t.Fatalf("GetMe = %+v, %v", me, err)
	}

	msg, err := b.SendMessage(context.Background(), &bot.SendMessageParams{
		ChatID:      int64(42),
		Text:        "Xin chào",
		ReplyMarkup: keyboard(),
	})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	if msg.ID != 1000 || msg.Chat.ID != 42 || msg.Chat.Type != models.ChatTypePrivate || msg.Text != "Xin chào" {
		t.Fatalf("message = %+v", msg)
	}
	if msg.From == nil || msg.From.ID != BotID || !msg.From.IsBot || msg.Date == 0 {
		t.Fatalf("message from/date = %+v / %d", msg.From, msg.Date)
	}
	if msg.ReplyMarkup == nil || len(msg.ReplyMarkup.InlineKeyboard) != 1 || msg.ReplyMarkup.InlineKeyboard[0][0].CallbackData != "c:yes" {
		t.Fatalf("reply markup = %+v", msg.ReplyMarkup)
	}

	sent := s.SentTo(42)
	if len(sent) != 1 || sent[0].Text != "Xin chào" || sent[0].MessageID != 1000 || sent[0].ChatID != 42 {
		t.Fatalf("SentTo(42) = %+v", sent)
	}
	if !strings.Contains(sent[0].ReplyMarkup, `"callback_data":"c:yes"`) {
		t.Fatalf("ReplyMarkup = %s", sent[0].ReplyMarkup)
	}
	if len(s.SentTo(43)) != 0 || len(s.Sent()) != 1 {
		t.Fatalf("Sent() = %+v", s.Sent())
	}

	calls := s.Calls("sendMessage")
	if len(calls) != 1 || calls[0].Params["chat_id"] != "42" || calls[0].Params["text"] != "Xin chào" {
		t.Fatalf("sendMessage calls = %+v", calls)
	}
	if all := s.Calls(""); len(all) != 3 || all[0].Method != "getMe" || all[2].Method != "sendMessage" {
		t.Fatalf("Calls(\"\") = %+v", all)
	}

	// Message ids are numbered per chat, as in Telegram; chat type follows
	// the id.
	msg, err = b.SendMessage(context.Background(), &bot.SendMessageParams{ChatID: int64(-1001234567890), Text: "nhóm"})
	if err != nil || msg.ID != FirstMessageID || msg.Chat.Type != models.ChatTypeSupergroup {
		t.Fatalf("supergroup send = %+v, %v", msg, err)
	}
	if c := s.Calls("sendMessage")[1]; c.Params["chat_id"] != "-1001234567890" {
		t.Fatalf("chat_id on the wire = %q", c.Params["chat_id"])
	}
}

func TestCallsReturnsCopies(t *testing.T) {
	s := NewServer(t)
	newBot(t, s)
	c := s.Calls("getMe")
	c[0].Params["x"] = "y"
	c[0].Method = "mutated"
	if again := s.Calls("getMe"); len(again) != 1 || again[0].Params["x"] != "" {
		t.Fatalf("Calls leaked internal state: %+v", again)
	}
}

func TestTooManyRequests(t *testing.T) {
	s := NewServer(t)
	b := newBot(t, s, bot.WithSkipGetMe())
	s.FailNext("sendMessage", 1, TooManyRequests(3))

	_, err := b.SendMessage(context.Background(), &bot.SendMessageParams{ChatID: int64(42), Text: "a"})
	if !bot.IsTooManyRequestsError(err) {
		t.Fatalf("err = %v, want *bot.TooManyRequestsError", err)
	}
	var tmr *bot.TooManyRequestsError
	if !errors.As(err, &tmr) || tmr.RetryAfter != 3 {
		t.Fatalf("err = %#v, want RetryAfter 3", err)
	}

	msg, err := b.SendMessage(context.Background(), &bot.SendMessageParams{ChatID: int64(42), Text: "b"})
	if err != nil || msg.ID != 1000 {
		t.Fatalf("second send = %+v, %v", msg, err)
	}
	if got := s.SentTo(42); len(got) != 1 || got[0].Text != "b" {
		t.Fatalf("SentTo(42) = %+v", got)
	}
	if got := s.Calls("sendMessage"); len(got) != 2 || got[0].Params["text"] != "a" {
		t.Fatalf("failed calls must be recorded too: %+v", got)
	}
}

// Past the bot's overall rate, sendMessage is answered 429 with
// retry_after, as the client reads it, and nothing is sent; the bucket
// refills with time.
func TestRateLimit(t *testing.T) {
	s := NewServer(t)
	b := newBot(t, s, bot.WithSkipGetMe())
	s.RateLimit(5)
	ctx := context.Background()
	for i := range 5 {
		if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: int64(42 + i), Text: "a"}); err != nil {
			t.Fatalf("send %d within the burst: %v", i, err)
		}
	}
	_, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: int64(50), Text: "b"})
	var tmr *bot.TooManyRequestsError
	if !errors.As(err, &tmr) || tmr.RetryAfter < 1 {
		t.Fatalf("send past the rate = %v, want 429 with retry_after", err)
	}
	if s.Throttled() != 1 || len(s.SentTo(50)) != 0 {
		t.Fatalf("throttled %d, sent %v", s.Throttled(), s.SentTo(50))
	}
	time.Sleep(250 * time.Millisecond) // a token back (5 a second)
	if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: int64(50), Text: "c"}); err != nil {
		t.Fatalf("send after the refill: %v", err)
	}
}

// FailFor answers every call with the error for a while, then lets calls
// through again; ClearFailures ends it early.
func TestFailFor(t *testing.T) {
	s := NewServer(t)
	b := newBot(t, s, bot.WithSkipGetMe())
	send := func() error {
		_, err := b.SendMessage(context.Background(), &bot.SendMessageParams{ChatID: int64(42), Text: "x"})
		return err
	}
	s.FailFor("sendMessage", 200*time.Millisecond, TooManyRequests(1))
	for i := range 3 {
		if err := send(); !bot.IsTooManyRequestsError(err) {
			t.Fatalf("call %d in the storm: err = %v, want 429", i, err)
		}
	}
	time.Sleep(250 * time.Millisecond)
	if err := send(); err != nil {
		t.Fatalf("after the storm: %v", err)
	}
	s.FailFor("sendMessage", time.Hour, Error{Code: http.StatusInternalServerError, Description: "Internal Server Error"})
	if err := send(); err == nil {
		t.Fatal("a 500 outage let a call through")
	}
	s.ClearFailures("sendMessage")
	if err := send(); err != nil {
		t.Fatalf("after ClearFailures: %v", err)
	}
}

func TestCannedErrors(t *testing.T) {
	s := NewServer(t)
	b := newBot(t, s, bot.WithSkipGetMe())
	send := func() error {
		_, err := b.SendMessage(context.Background(), &bot.SendMessageParams{ChatID: int64(42), Text: "x"})
		return err
	}

	s.FailNext("sendMessage", 2, BlockedByUser)
	s.FailNext("sendMessage", 1, ChatNotFound)
	s.FailNext("sendMessage", 1, ChatMigrated(-1009876543210))
	for i := 0; i < 2; i++ {
		if err := send(); !errors.Is(err, bot.ErrorForbidden) || !strings.Contains(err.Error(), "bot was blocked by the user") {
			t.Fatalf("call %d: err = %v, want ErrorForbidden", i, err)
		}
	}
	if err := send(); !errors.Is(err, bot.ErrorBadRequest) || !strings.Contains(err.Error(), "chat not found") {
		t.Fatalf("err = %v, want ErrorBadRequest chat not found", err)
	}
	err := send()
	var me *bot.MigrateError
	if !bot.IsMigrateError(err) || !errors.As(err, &me) || me.MigrateToChatID != -1009876543210 {
		t.Fatalf("err = %#v, want MigrateError", err)
	}
	if err := send(); err != nil {
		t.Fatalf("after the queued failures: %v", err)
	}
	if len(s.Sent()) != 1 {
		t.Fatalf("Sent() = %+v", s.Sent())
	}
}

func TestWrongToken(t *testing.T) {
	s := NewServer(t)
	_, err := bot.New("654321:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", bot.WithServerURL(s.URL))
	if err == nil || !errors.Is(err, bot.ErrorUnauthorized) {
		t.Fatalf("bot.New with a wrong token: err = %v, want ErrorUnauthorized", err)
	}

	b, err := bot.New("654321:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", bot.WithServerURL(s.URL), bot.WithSkipGetMe())
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.SendMessage(context.Background(), &bot.SendMessageParams{ChatID: int64(42), Text: "x"})
	if !errors.Is(err, bot.ErrorUnauthorized) {
		t.Fatalf("err = %v, want ErrorUnauthorized", err)
	}
	if len(s.Sent()) != 0 || len(s.Calls("")) != 2 {
		t.Fatalf("sent %+v, calls %+v", s.Sent(), s.Calls(""))
	}
}

func TestValidation(t *testing.T) {
	s := NewServer(t)
	b := newBot(t, s, bot.WithSkipGetMe())
	ctx := context.Background()
	if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: int64(42)}); !errors.Is(err, bot.ErrorBadRequest) {
		t.Fatalf("empty text: %v", err)
	}
	if _, err := b.SendMessage(ctx, &bot.SendMessageParams{Text: "x"}); !errors.Is(err, bot.ErrorBadRequest) {
		t.Fatalf("nil chat_id: %v", err)
	}
	if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: "@somechannel", Text: "x"}); !errors.Is(err, bot.ErrorBadRequest) {
		t.Fatalf("@channel: %v", err)
	}
	if len(s.Sent()) != 0 {
		t.Fatalf("Sent() = %+v", s.Sent())
	}
	// SendMessageParams.ChatID has no omitempty: a nil ChatID goes out as "null".
	if c := s.Calls("sendMessage"); c[1].Params["chat_id"] != "null" || c[2].Params["chat_id"] != "@somechannel" {
		t.Fatalf("chat_id on the wire = %q, %q", c[1].Params["chat_id"], c[2].Params["chat_id"])
	}
}

func TestEditDeleteAnswer(t *testing.T) {
	s := NewServer(t)
	b := newBot(t, s, bot.WithSkipGetMe())
	ctx := context.Background()
	msg, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: int64(42), Text: "v1", ReplyMarkup: keyboard()})
	if err != nil {
		t.Fatal(err)
	}

	ed, err := b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: int64(42), MessageID: msg.ID, Text: "v2", ReplyMarkup: keyboard()})
	if err != nil || ed.ID != msg.ID || ed.Text != "v2" || ed.EditDate == 0 || ed.Date != msg.Date || ed.ReplyMarkup == nil {
		t.Fatalf("EditMessageText = %+v, %v", ed, err)
	}
	ed, err = b.EditMessageReplyMarkup(ctx, &bot.EditMessageReplyMarkupParams{ChatID: int64(42), MessageID: msg.ID})
	if err != nil || ed.Text != "v2" || ed.ReplyMarkup != nil {
		t.Fatalf("EditMessageReplyMarkup = %+v, %v", ed, err)
	}
	// A message the fake never sent (e.g. from a fixture) can be edited too.
	if _, err := b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: int64(42), MessageID: 1, Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: "4382000000000000001", Text: "Đã gửi"}); !ok || err != nil {
		t.Fatalf("AnswerCallbackQuery = %v, %v", ok, err)
	}
	if ok, err := b.DeleteMessage(ctx, &bot.DeleteMessageParams{ChatID: int64(42), MessageID: msg.ID}); !ok || err != nil {
		t.Fatalf("DeleteMessage = %v, %v", ok, err)
	}
	if ok, err := b.DeleteMessages(ctx, &bot.DeleteMessagesParams{ChatID: int64(42), MessageIDs: []int{1, 2}}); !ok || err != nil {
		t.Fatalf("DeleteMessages = %v, %v", ok, err)
	}
	if c := s.Calls("deleteMessages"); len(c) != 1 || c[0].Params["message_ids"] != "[1,2]" {
		t.Fatalf("deleteMessages calls = %+v", c)
	}
	if c := s.Calls("answerCallbackQuery"); len(c) != 1 || c[0].Params["callback_query_id"] != "4382000000000000001" {
		t.Fatalf("answerCallbackQuery calls = %+v", c)
	}
	if got := s.Sent(); len(got) != 1 || got[0].Text != "v1" {
		t.Fatalf("edits must not rewrite Sent(): %+v", got)
	}
}

func TestWebhook(t *testing.T) {
	s := NewServer(t)
	b := newBot(t, s, bot.WithSkipGetMe())
	ctx := context.Background()

	info, err := b.GetWebhookInfo(ctx) // param-less call
	if err != nil || info.URL != "" || info.PendingUpdateCount != 0 {
		t.Fatalf("GetWebhookInfo = %+v, %v", info, err)
	}
	if ok, err := b.SetWebhook(ctx, &bot.SetWebhookParams{URL: "https://example.test/tg", SecretToken: "s3cr3t"}); !ok || err != nil {
		t.Fatalf("SetWebhook = %v, %v", ok, err)
	}
	if c := s.Calls("setWebhook"); c[0].Params["secret_token"] != "s3cr3t" {
		t.Fatalf("setWebhook params = %+v", c[0].Params)
	}
	if info, err = b.GetWebhookInfo(ctx); err != nil || info.URL != "https://example.test/tg" {
		t.Fatalf("GetWebhookInfo = %+v, %v", info, err)
	}

	// getUpdates is refused while a webhook is set, as in the real API.
	res := rawCall(t, s, "getUpdates", "application/x-www-form-urlencoded", "timeout=0")
	if res.status != http.StatusConflict || res.env.ErrorCode != 409 {
		t.Fatalf("getUpdates with webhook = %+v", res)
	}

	if ok, err := b.DeleteWebhook(ctx, &bot.DeleteWebhookParams{DropPendingUpdates: true}); !ok || err != nil {
		t.Fatalf("DeleteWebhook = %v, %v", ok, err)
	}
	if info, err = b.GetWebhookInfo(ctx); err != nil || info.URL != "" {
		t.Fatalf("GetWebhookInfo = %+v, %v", info, err)
	}
}

func TestLongPolling(t *testing.T) {
	s := NewServer(t)
	s.PushUpdate([]byte(`{"update_id":10000,"message":{"message_id":1,"date":1700000000,"chat":{"id":42,"type":"private"},"from":{"id":42,"is_bot":false,"first_name":"A"},"text":"hi"}}`))

	got := make(chan *models.Update, 10)
	b := newBot(t, s,
		bot.WithHTTPClient(2*time.Second, &http.Client{Timeout: 5 * time.Second}),
		bot.WithDefaultHandler(func(ctx context.Context, b *bot.Bot, u *models.Update) { got <- u }),
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Start(ctx); close(done) }()
	defer func() {
		cancel()
		<-done
	}()

	select {
	case u := <-got:
		if u.ID != 10000 || u.Message == nil || u.Message.Text != "hi" || u.Message.Chat.ID != 42 {
			t.Fatalf("update = %+v", u)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not receive the pushed update")
	}

	// The first poll asks offset=1 and timeout = pollTimeout - 1s = 1.
	first := s.Calls("getUpdates")[0]
	if first.Params["offset"] != "1" || first.Params["timeout"] != "1" {
		t.Fatalf("first getUpdates params = %+v", first.Params)
	}

	// A push while the client is long polling wakes it up immediately.
	time.Sleep(100 * time.Millisecond)
	pushed := time.Now()
	s.PushUpdate([]byte(`{"update_id":10001,"message":{"message_id":2,"date":1700000001,"chat":{"id":42,"type":"private"},"from":{"id":42,"is_bot":false,"first_name":"A"},"text":"again"}}`))
	select {
	case u := <-got:
		if u.ID != 10001 || u.Message.Text != "again" {
			t.Fatalf("update = %+v", u)
		}
		if d := time.Since(pushed); d > 900*time.Millisecond {
			t.Errorf("pushed update took %v to arrive", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not receive the second update")
	}

	// Delivered updates are acknowledged by the next offset and forgotten.
	deadline := time.Now().Add(3 * time.Second)
	for {
		acked := false
		for _, c := range s.Calls("getUpdates") {
			if c.Params["offset"] == "10002" {
				acked = true
			}
		}
		if acked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no getUpdates with offset=10002: %+v", s.Calls("getUpdates"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case u := <-got:
		t.Fatalf("update delivered twice: %+v", u)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestGetUpdatesRaw(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.PushUpdate(Fixture(t, "text.json"))  // 10002
	s.PushUpdate(Fixture(t, "start.json")) // 10001, pushed out of order

	res := rawCall(t, s, "getUpdates", "application/x-www-form-urlencoded", "offset=0&timeout=0")
	var ups []models.Update
	if err := json.Unmarshal(res.env.Result, &ups); err != nil || len(ups) != 2 || ups[0].ID != 10001 || ups[1].ID != 10002 {
		t.Fatalf("getUpdates = %s, %v", res.env.Result, err)
	}
	// limit
	res = rawCall(t, s, "getUpdates", "application/x-www-form-urlencoded", "limit=1")
	if err := json.Unmarshal(res.env.Result, &ups); err != nil || len(ups) != 1 || ups[0].ID != 10001 {
		t.Fatalf("getUpdates limit=1 = %s, %v", res.env.Result, err)
	}
	// offset acknowledges 10001
	res = rawCall(t, s, "getUpdates", "application/x-www-form-urlencoded", "offset=10002")
	if err := json.Unmarshal(res.env.Result, &ups); err != nil || len(ups) != 1 || ups[0].ID != 10002 {
		t.Fatalf("getUpdates offset = %s, %v", res.env.Result, err)
	}
	res = rawCall(t, s, "getUpdates", "application/x-www-form-urlencoded", "offset=10003")
	if string(res.env.Result) != "[]" {
		t.Fatalf("after ack = %s", res.env.Result)
	}

	// An empty queue waits for the timeout, capped at MaxPollWait.
	start := time.Now()
	res = rawCall(t, s, "getUpdates", "application/x-www-form-urlencoded", "offset=10003&timeout=30")
	if d := time.Since(start); d < MaxPollWait-100*time.Millisecond || d > MaxPollWait+time.Second {
		t.Fatalf("long poll took %v, want ~%v", d, MaxPollWait)
	}
	if !res.env.OK || string(res.env.Result) != "[]" {
		t.Fatalf("empty long poll = %+v", res)
	}
}

func TestGetUpdatesEndsWithRequestContext(t *testing.T) {
	s := NewServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/bot"+Token+"/getUpdates?timeout=50", nil)
	start := time.Now()
	_, err := http.DefaultClient.Do(req)
	if err == nil || time.Since(start) > time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

func TestFixturesThroughPolling(t *testing.T) {
	s := NewServer(t)
	names := []string{"start.json", "text.json", "callback_query.json", "edited_message.json", "sticker.json", "group_text.json"}
	for _, n := range names {
		s.PushUpdate(Fixture(t, n))
	}

	var mu sync.Mutex
	seen := map[string]*models.Update{}
	record := func(kind string) bot.HandlerFunc {
		return func(ctx context.Context, b *bot.Bot, u *models.Update) {
			mu.Lock()
			seen[kind] = u
			mu.Unlock()
		}
	}
	var other []*models.Update
	b := newBot(t, s,
		bot.WithHTTPClient(2*time.Second, &http.Client{Timeout: 5 * time.Second}),
		bot.WithNotAsyncHandlers(),
		bot.WithDefaultHandler(func(ctx context.Context, b *bot.Bot, u *models.Update) {
			mu.Lock()
			other = append(other, u)
			mu.Unlock()
		}),
	)
	b.RegisterHandler(bot.HandlerTypeMessageText, "start", bot.MatchTypeCommand, record("start"))
	b.RegisterHandler(bot.HandlerTypeCallbackQueryData, "c:", bot.MatchTypePrefix, record("callback"))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Start(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(seen) + len(other)
		mu.Unlock()
		if n == len(names) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done

	mu.Lock()
	defer mu.Unlock()
	if u := seen["start"]; u == nil || u.ID != 10001 {
		t.Fatalf("/start did not reach the command handler: %+v", seen)
	}
	cb := seen["callback"]
	if cb == nil || cb.CallbackQuery.Data != "c:send" || cb.CallbackQuery.Message.Message == nil ||
		cb.CallbackQuery.Message.Message.Chat.ID != 42 {
		t.Fatalf("callback = %+v", cb)
	}
	if len(other) != 4 {
		t.Fatalf("default handler got %d updates, want 4", len(other))
	}
}

func TestFixtures(t *testing.T) {
	ids := map[int64]string{}
	for _, n := range []string{"start.json", "text.json", "callback_query.json", "edited_message.json", "sticker.json", "group_text.json"} {
		var u models.Update
		if err := json.Unmarshal(Fixture(t, n), &u); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if prev, dup := ids[u.ID]; dup || u.ID == 0 {
			t.Fatalf("%s: update_id %d already used by %s", n, u.ID, prev)
		}
		ids[u.ID] = n
		switch n {
		case "start.json":
			m := u.Message
			if m.Text != "/start" || len(m.Entities) != 1 || m.Entities[0].Type != models.MessageEntityTypeBotCommand || m.Entities[0].Length != 6 {
				t.Errorf("%s: %+v", n, m)
			}
		case "text.json":
			if u.Message.Text != "Có người bị lừa sang Campuchia" || u.Message.Chat.ID != 42 {
				t.Errorf("%s: %+v", n, u.Message)
			}
		case "callback_query.json":
			q := u.CallbackQuery
			if q == nil || q.ID == "" || q.Data != "c:send" || q.ChatInstance == "" || q.From.ID == 0 ||
				q.Message.Type != models.MaybeInaccessibleMessageTypeMessage || q.Message.Message.Chat.ID != 42 ||
				q.Message.Message.Chat.Type != models.ChatTypePrivate {
				t.Errorf("%s: %+v", n, q)
			}
		case "edited_message.json":
			if u.EditedMessage == nil || u.EditedMessage.EditDate == 0 || u.Message != nil {
				t.Errorf("%s: %+v", n, u)
			}
		case "sticker.json":
			if u.Message.Sticker == nil || u.Message.Text != "" || u.Message.Sticker.FileID == "" {
				t.Errorf("%s: %+v", n, u.Message)
			}
		case "group_text.json":
			if u.Message.Chat.ID != -1001234567890 || u.Message.Chat.Type != models.ChatTypeSupergroup || u.Message.Text == "" {
				t.Errorf("%s: %+v", n, u.Message)
			}
		}
	}
}

func TestWaitSent(t *testing.T) {
	s := NewServer(t)
	b := newBot(t, s, bot.WithSkipGetMe())
	go func() {
		for i := 0; i < 2; i++ {
			time.Sleep(50 * time.Millisecond)
			_, _ = b.SendMessage(context.Background(), &bot.SendMessageParams{ChatID: int64(42), Text: "x"})
		}
	}()
	if got := s.WaitSent(42, 2, 5*time.Second); len(got) != 2 {
		t.Fatalf("WaitSent = %+v", got)
	}
	start := time.Now()
	if got := s.WaitSent(42, 3, 150*time.Millisecond); len(got) != 2 || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("WaitSent timeout = %+v after %v", got, time.Since(start))
	}
	if got := s.WaitSent(7, 1, 10*time.Millisecond); len(got) != 0 {
		t.Fatalf("WaitSent(7) = %+v", got)
	}
}

func TestConcurrentSends(t *testing.T) {
	s := NewServer(t)
	b := newBot(t, s, bot.WithSkipGetMe())
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Go(func() {
			if _, err := b.SendMessage(context.Background(), &bot.SendMessageParams{ChatID: int64(42), Text: "x"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ids := map[int]bool{}
	for _, m := range s.Sent() {
		ids[m.MessageID] = true
	}
	if len(ids) != 20 || !ids[1000] || !ids[1019] {
		t.Fatalf("message ids = %v", ids)
	}
}

// Other body encodings give the same Params as the library's multipart.
func TestBodyEncodings(t *testing.T) {
	s := NewServer(t)
	b := newBot(t, s, bot.WithSkipGetMe())
	if _, err := b.SendMessage(context.Background(), &bot.SendMessageParams{
		ChatID: int64(-1001234567890), Text: "a & <b>", ReplyMarkup: keyboard(), DisableNotification: true,
	}); err != nil {
		t.Fatal(err)
	}
	want := s.Calls("sendMessage")[0].Params

	markup, _ := json.Marshal(keyboard())
	jsonBody, _ := json.Marshal(map[string]any{
		"chat_id": -1001234567890, "text": "a & <b>", "reply_markup": json.RawMessage(markup), "disable_notification": true,
	})
	form := url.Values{"chat_id": {"-1001234567890"}, "text": {"a & <b>"}, "reply_markup": {string(markup)}, "disable_notification": {"true"}}

	rawCall(t, s, "sendMessage", "application/json", string(jsonBody))
	rawCall(t, s, "sendMessage", "application/x-www-form-urlencoded", form.Encode())
	res := rawCallMethod(t, s, http.MethodGet, "sendMessage?"+form.Encode(), "", "")
	if !res.env.OK {
		t.Fatalf("GET sendMessage = %+v", res)
	}

	calls := s.Calls("sendMessage")
	for i, c := range calls[1:] {
		for k, v := range want {
			if c.Params[k] != v {
				t.Errorf("encoding %d: %s = %q, want %q", i, k, c.Params[k], v)
			}
		}
		if len(c.Params) != len(want) {
			t.Errorf("encoding %d: params %v, want %v", i, c.Params, want)
		}
	}
	if len(s.SentTo(-1001234567890)) != 4 {
		t.Fatalf("Sent() = %+v", s.Sent())
	}
}

func TestUnknownMethodAndPaths(t *testing.T) {
	s := NewServer(t)
	res := rawCall(t, s, "sendTelepathy", "", "")
	if res.status != http.StatusNotFound || res.env.OK || res.env.ErrorCode != 404 || res.env.Description != "Not Found: method not found" {
		t.Fatalf("unknown method = %+v", res)
	}
	if c := s.Calls("sendTelepathy"); len(c) != 1 {
		t.Fatalf("unknown method not recorded: %+v", c)
	}
	resp, err := http.Get(s.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/nope = %d", resp.StatusCode)
	}
	res = rawCallToken(t, s, http.MethodPost, "wrong:token", "getMe", "", "")
	if res.status != http.StatusUnauthorized || res.env.ErrorCode != 401 || res.env.Description != "Unauthorized" {
		t.Fatalf("wrong token = %+v", res)
	}
	s.FailNext("getMe", 1, TooManyRequests(7))
	res = rawCall(t, s, "getMe", "", "")
	if res.status != http.StatusTooManyRequests || res.env.Parameters == nil || res.env.Parameters.RetryAfter != 7 ||
		res.env.Description != "Too Many Requests: retry after 7" {
		t.Fatalf("429 = %+v", res)
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	s := NewServer(t)
	req := httptest.NewRequest(http.MethodPost, "/bot"+Token+"/getMe", nil) // RemoteAddr 192.0.2.1
	rec := httptest.NewRecorder()
	s.serveHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("non-loopback = %d %s", rec.Code, rec.Body)
	}
	if len(s.Calls("")) != 0 {
		t.Fatal("non-loopback call recorded")
	}
}

type rawResult struct {
	status int
	env    struct {
		OK          bool            `json:"ok"`
		Result      json.RawMessage `json:"result"`
		Description string          `json:"description"`
		ErrorCode   int             `json:"error_code"`
		Parameters  *struct {
			RetryAfter      int   `json:"retry_after"`
			MigrateToChatID int64 `json:"migrate_to_chat_id"`
		} `json:"parameters"`
	}
}

func rawCall(t *testing.T, s *Server, method, contentType, body string) rawResult {
	return rawCallToken(t, s, http.MethodPost, Token, method, contentType, body)
}

func rawCallMethod(t *testing.T, s *Server, httpMethod, method, contentType, body string) rawResult {
	return rawCallToken(t, s, httpMethod, Token, method, contentType, body)
}

func rawCallToken(t *testing.T, s *Server, httpMethod, token, method, contentType, body string) rawResult {
	t.Helper()
	req, err := http.NewRequest(httpMethod, s.URL+"/bot"+token+"/"+method, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r rawResult
	r.status = resp.StatusCode
	if err := json.Unmarshal(data, &r.env); err != nil {
		t.Fatalf("%s: body %q: %v", method, data, err)
	}
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s: Content-Type %q", method, resp.Header.Get("Content-Type"))
	}
	return r
}

// A webhook's response is a method call the fake makes as Telegram does; a
// chat's message IDs are one sequence shared by the person and the bot.
func TestRespondAndSharedMessageIDs(t *testing.T) {
	s := NewServer(t)
	if id := s.NewMessageID(42); id != FirstMessageID {
		t.Fatalf("the person's first message = %d", id)
	}
	if err := s.Respond([]byte(`{"method":"sendMessage","chat_id":42,"text":"Xin chào","reply_markup":{"inline_keyboard":[[{"text":"A","callback_data":"a"}]]}}`)); err != nil {
		t.Fatal(err)
	}
	sent := s.SentTo(42)
	if len(sent) != 1 || sent[0].MessageID != FirstMessageID+1 || sent[0].Text != "Xin chào" ||
		!strings.Contains(sent[0].ReplyMarkup, `"callback_data":"a"`) {
		t.Fatalf("sent = %+v", sent)
	}
	if c := s.Calls("sendMessage"); len(c) != 1 || !c[0].InResponse {
		t.Errorf("calls = %+v, want one made in a response", c)
	}
	if err := s.Respond(nil); err != nil {
		t.Errorf("an empty response: %v", err)
	}
	if err := s.Respond([]byte(`{"method":"sendMessage","chat_id":42}`)); err == nil {
		t.Error("a call the API refuses was taken")
	}
}
