package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"tinbao/bot/telegram/telegramtest"
	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// syncBuffer collects the service's log safely across goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// service is tinbao started through run(), as the binary starts it.
type service struct {
	url    string
	env    map[string]string
	log    *syncBuffer
	stdout *syncBuffer
	done   chan error
	db     *storage.DB
}

const testSecret = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func startService(t *testing.T, extra map[string]string) *service {
	t.Helper()
	dbURL := storagetest.DatabaseURL(t)
	redisURL := storagetest.Need(t, "TEST_REDIS_URL")
	rdb, prefix := storagetest.Redis(t)
	_ = rdb
	addr := freeAddr(t)
	env := map[string]string{
		"DATABASE_URL":     dbURL,
		"REDIS_URL":        redisURL,
		"REDIS_KEY_PREFIX": prefix,
		"TINBAO_SECRET":    testSecret,
		"HTTP_ADDR":        addr,
		"PUBLIC_URL":       "http://" + addr,
	}
	for k, v := range extra {
		env[k] = v
	}
	s := &service{url: "http://" + addr, env: env, log: &syncBuffer{}, stdout: &syncBuffer{}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		s.done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, strings.NewReader(""), s.stdout, s.log)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service log:\n%s", s.log)
		}
		cancel()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop within 20s of its context ending")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-s.done:
			t.Fatalf("serve stopped: %v\n%s", err, s.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("service did not come up: %v\n%s", err, s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	db, err := storage.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	s.db = db
	return s
}

// Telegram updates as Telegram sends them, from a person whose names must
// never be stored or logged.
const (
	chatID    = 987654321
	firstName = "Nguyễn Thị Bí Mật"
	username  = "secret_username_x"
)

func textUpdate(updateID int, text string) []byte {
	msg := map[string]any{
		"message_id": updateID,
		"date":       1764230400,
		"chat":       map[string]any{"id": chatID, "type": "private", "first_name": firstName, "username": username},
		"from":       map[string]any{"id": chatID, "is_bot": false, "first_name": firstName, "username": username, "language_code": "vi"},
		"text":       text,
	}
	if strings.HasPrefix(text, "/") {
		msg["entities"] = []map[string]any{{"offset": 0, "length": len(strings.Fields(text)[0]), "type": "bot_command"}}
	}
	b, _ := json.Marshal(map[string]any{"update_id": updateID, "message": msg})
	return b
}

func callbackUpdate(updateID int, data string) []byte {
	b, _ := json.Marshal(map[string]any{
		"update_id": updateID,
		"callback_query": map[string]any{
			"id":            fmt.Sprint(updateID * 7),
			"from":          map[string]any{"id": chatID, "is_bot": false, "first_name": firstName, "username": username, "language_code": "vi"},
			"chat_instance": "-1234",
			"data":          data,
			"message": map[string]any{
				"message_id": 1000, "date": 1764230400, "text": "…",
				"chat": map[string]any{"id": chatID, "type": "private", "first_name": firstName},
			},
		},
	})
	return b
}

func post(t *testing.T, url, secret string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTelegramReportEndToEnd(t *testing.T) {
	tg := telegramtest.NewServer(t)
	const secret = "webhook-secret_123"
	s := startService(t, map[string]string{
		"TELEGRAM_BOT_TOKEN":      telegramtest.Token,
		"TELEGRAM_API_URL":        tg.URL,
		"TELEGRAM_WEBHOOK_SECRET": secret,
	})
	hook := s.url + "/webhooks/telegram"
	const what = "Hàng xóm rủ con gái tôi sang Campuchia làm việc nhẹ lương cao"

	// setWebhook is called at start with our URL and secret.
	waitFor(t, func() bool { return len(tg.Calls("setWebhook")) > 0 })
	if c := tg.Calls("setWebhook")[0]; c.Params["url"] != hook || c.Params["secret_token"] != secret {
		t.Errorf("setWebhook params = %v", c.Params)
	}

	steps := [][]byte{
		textUpdate(5001, "/baotin"),
		textUpdate(5002, what),
		callbackUpdate(5003, "skip"),
		callbackUpdate(5004, "send"),
	}
	for i, u := range steps {
		if code, body := post(t, hook, secret, u); code != http.StatusOK {
			t.Fatalf("step %d: status %d %s", i+1, code, body)
		}
	}
	// Three prompts come straight back; the acknowledgement through the outbox.
	sent := tg.WaitSent(chatID, 4, 10*time.Second)
	if len(sent) < 4 {
		t.Fatalf("sent %d messages, want 4: %+v\n%s", len(sent), sent, s.log)
	}
	if !strings.Contains(sent[2].ReplyMarkup, `"callback_data":"send"`) || !strings.Contains(sent[2].Text, what) {
		t.Errorf("summary = %+v", sent[2])
	}
	ack := sent[3].Text
	var tips []storage.Tip
	tips, err := s.db.OpenTips(context.Background(), 10)
	if err != nil || len(tips) != 1 {
		t.Fatalf("tips = %+v, %v", tips, err)
	}
	tip := tips[0]
	if tip.Channel != "telegram" || tip.Kind != "tip" || tip.Status != "new" || tip.Details["what"] != what {
		t.Errorf("tip = %+v", tip)
	}
	if !strings.Contains(ack, tip.Reference) {
		t.Errorf("acknowledgement %q does not carry the reference %s", ack, tip.Reference)
	}
	waitFor(t, func() bool {
		msgs, _ := s.db.OutboxForTip(context.Background(), tip.ID)
		return len(msgs) == 1 && msgs[0].Status == "sent" && msgs[0].ProviderMessageID != ""
	})

	// Replaying the last update (Telegram retries) creates and sends nothing.
	before := len(tg.Calls("sendMessage"))
	if code, _ := post(t, hook, secret, steps[3]); code != http.StatusOK {
		t.Fatalf("replay: status %d", code)
	}
	time.Sleep(1500 * time.Millisecond) // longer than the dispatcher's poll
	if after := len(tg.Calls("sendMessage")); after != before {
		t.Errorf("replay sent %d more messages", after-before)
	}
	if tips, _ := s.db.OpenTips(context.Background(), 10); len(tips) != 1 {
		t.Errorf("replay: %d tips, want 1", len(tips))
	}

	// Bad requests get clear answers and the service stays up.
	for _, tc := range []struct {
		name, secret string
		body         []byte
		want         int
	}{
		{"missing secret", "", textUpdate(6001, "hi"), http.StatusUnauthorized},
		{"wrong secret", "nope", textUpdate(6002, "hi"), http.StatusUnauthorized},
		{"malformed JSON", secret, []byte(`{"update_id": 6003, "message": {`), http.StatusBadRequest},
		{"not an update", secret, []byte(`{"hello": "world"}`), http.StatusBadRequest},
		{"huge body", secret, append([]byte(`{"update_id": 6004, "x": "`), bytes.Repeat([]byte("a"), 2<<20)...), http.StatusRequestEntityTooLarge},
	} {
		if code, body := post(t, hook, tc.secret, tc.body); code != tc.want {
			t.Errorf("%s: status %d (%s), want %d", tc.name, code, body, tc.want)
		}
	}
	if resp, err := http.Get(s.url + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz after bad input: %v %v", resp, err)
	}

	// The log names no chat ID, name, username or message text.
	logs := s.log.String()
	for _, secretThing := range []string{fmt.Sprint(chatID), firstName, username, what, "Campuchia", telegramtest.Token, secret} {
		if strings.Contains(logs, secretThing) {
			t.Errorf("log contains %q", secretThing)
		}
	}
	// Nor does the database hold them in clear.
	var found bool
	err = s.db.Pool().QueryRow(context.Background(), `SELECT EXISTS (
		SELECT 1 FROM tips t WHERE t::text LIKE '%'||$1||'%' OR t::text LIKE '%'||$2||'%'
		UNION ALL SELECT 1 FROM outbox o WHERE o::text LIKE '%'||$1||'%' OR o::text LIKE '%'||$2||'%')`,
		fmt.Sprint(chatID), username).Scan(&found)
	if err != nil || found {
		t.Errorf("chat ID or username stored in clear (found=%t, err=%v)", found, err)
	}
}

func TestServeRefusesUnmigratedDatabase(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL":  storagetest.EmptyDatabaseURL(t),
		"REDIS_URL":     storagetest.Need(t, "TEST_REDIS_URL"),
		"TINBAO_SECRET": testSecret,
		"HTTP_ADDR":     freeAddr(t),
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "tinbao migrate") {
		t.Fatalf("serve on an empty database: %v, want advice to run `tinbao migrate`", err)
	}
}

func TestMissingConfigIsReportedAtOnce(t *testing.T) {
	err := run(context.Background(), []string{"serve"}, func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard)
	for _, name := range []string{"DATABASE_URL", "REDIS_URL", "TINBAO_SECRET"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
