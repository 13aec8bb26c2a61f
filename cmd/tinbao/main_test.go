package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"tinbao/bot/telegram/telegramtest"
	"tinbao/identity"
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

func freeAddr(t testing.TB) string {
	t.Helper()
	// Below the kernel's ephemeral range (32768 and up on Linux): a port
	// from that range, free now, can be taken as the local end of any
	// outgoing connection before the service binds it, and the service
	// then fails with "address already in use" (seen under make test,
	// where many packages connect at once).
	for range 200 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err != nil {
			continue
		}
		ln.Close()
		return ln.Addr().String()
	}
	t.Fatal("no free port on 127.0.0.1 between 20000 and 32000")
	return ""
}

// service is tinbao started through run(), as the binary starts it.
type service struct {
	url     string
	console string // the officers' console
	env     map[string]string
	log     *syncBuffer
	stdout  *syncBuffer
	done    chan error
	stop    func() // as SIGTERM would
	db      *storage.DB
}

// webhookAPIs maps a service's Telegram webhook URL to its (fake) Bot API.
var webhookAPIs sync.Map

// asTelegram makes the calls the webhook responses carry, as Telegram does
// once it has a response: every test client (http.DefaultClient, the
// benchmarks') goes through it, so a reply in a response reaches the fake as
// any other reply does, before the test looks.
type asTelegram struct{ next http.RoundTripper }

func (a asTelegram) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		return resp, err
	}
	api, ok := webhookAPIs.Load(req.URL.String())
	if !ok {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, err
	}
	if tg := telegramtest.ByURL(api.(string)); tg != nil {
		// A call that fails (a failure the test injected) is dropped, as
		// Telegram drops it: it tells the bot nothing.
		tg.Respond(body)
	}
	return resp, nil
}

func init() { http.DefaultClient.Transport = asTelegram{http.DefaultTransport} }

const testSecret = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func startService(t testing.TB, extra map[string]string) *service {
	t.Helper()
	_, prefix := storagetest.Redis(t)
	return startServiceOn(t, storagetest.DatabaseURL(t), prefix, extra)
}

// startServiceOn starts tinbao on a given database and Redis prefix, so that
// a test can stop it and start it again on the same data.
func startServiceOn(t testing.TB, dbURL, prefix string, extra map[string]string) *service {
	t.Helper()
	redisURL := storagetest.Need(t, "TEST_REDIS_URL")
	addr, consoleAddr := freeAddr(t), freeAddr(t)
	env := map[string]string{
		"CONSOLE_ADDR":     consoleAddr,
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
	s := &service{url: "http://" + addr, console: "http://" + env["CONSOLE_ADDR"], env: env, log: &syncBuffer{}, stdout: &syncBuffer{}, done: make(chan error, 1)}
	if api := env["TELEGRAM_API_URL"]; api != "" {
		webhookAPIs.Store(s.url+"/webhooks/telegram", api)
		t.Cleanup(func() { webhookAPIs.Delete(s.url + "/webhooks/telegram") })
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		s.done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, strings.NewReader(""), s.stdout, s.log)
	}()
	s.stop = sync.OnceFunc(func() {
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
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service log:\n%s", s.log)
		}
		s.stop()
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
	s.db, _ = openKeyedDB(t, dbURL)
	return s
}

// openKeyedDB opens the database at url with the tests' keys, as serve
// does, so that a test can read sealed reports; it closes with the test.
func openKeyedDB(t testing.TB, url string) (*storage.DB, *identity.Keyring) {
	t.Helper()
	db, err := storage.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	keys, err := identity.ParseKeyring(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	db.SetKeys(keys)
	return db, keys
}

// Telegram updates as Telegram sends them, from a person whose names must
// never be stored or logged.
const (
	chatID    = 987654321
	firstName = "Nguyễn Thị Bí Mật"
	username  = "secret_username_x"
)

func textUpdate(updateID int, text string) []byte { return textUpdateFrom(updateID, chatID, text) }

func textUpdateFrom(updateID int, chatID int64, text string) []byte {
	return textUpdateAt(updateID, updateID, chatID, text)
}

// textUpdateAt is a text message at position msgID of its chat.
func textUpdateAt(updateID, msgID int, chatID int64, text string) []byte {
	msg := map[string]any{
		"message_id": msgID,
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

func callbackUpdateFrom(updateID int, chatID int64, data string) []byte {
	return callbackUpdateAt(updateID, 1000, chatID, data)
}

// callbackUpdateAt is a press on a button of the message at position msgID.
func callbackUpdateAt(updateID, msgID int, chatID int64, data string) []byte {
	b, _ := json.Marshal(map[string]any{
		"update_id": updateID,
		"callback_query": map[string]any{
			"id":            fmt.Sprint(updateID * 7),
			"from":          map[string]any{"id": chatID, "is_bot": false, "first_name": firstName, "username": username, "language_code": "vi"},
			"chat_instance": "-1234",
			"data":          data,
			"message": map[string]any{
				"message_id": msgID, "date": 1764230400, "text": "…",
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

// tgChat is one person writing to the bot over the Telegram webhook.
type tgChat struct {
	t      *testing.T
	s      *service
	tg     *telegramtest.Server
	secret string
	chatID int64
	next   *int
	mine   []int     // the positions of the person's own messages
	at     time.Time // when the last update was posted
}

// humanGap keeps one test person under the channel's cap of answered turns
// (25 a second on Telegram): a person writing faster than that, past 15
// messages a minute, is a flood and is not answered every time. Webhook
// answers no longer wait for the Bot API, so a test can go that fast.
const humanGap = 45 * time.Millisecond

var updateIDs = 5000

func (s *service) telegramChat(t *testing.T, tg *telegramtest.Server, secret string, chatID int64) *tgChat {
	return &tgChat{t: t, s: s, tg: tg, secret: secret, chatID: chatID, next: &updateIDs}
}

func (c *tgChat) post(body []byte) {
	c.t.Helper()
	time.Sleep(time.Until(c.at.Add(humanGap)))
	c.at = time.Now()
	if code, resp := post(c.t, c.s.url+"/webhooks/telegram", c.secret, body); code != http.StatusOK {
		c.t.Fatalf("webhook: status %d %s", code, resp)
	}
}

// say sends a text message and returns the update it sent.
func (c *tgChat) say(text string) []byte {
	c.t.Helper()
	*c.next++
	id := c.tg.NewMessageID(c.chatID)
	c.mine = append(c.mine, id)
	u := textUpdateAt(*c.next, id, c.chatID, text)
	c.post(u)
	return u
}

// press presses a button and returns the update it sent.
func (c *tgChat) press(choice string) []byte {
	c.t.Helper()
	*c.next++
	at := telegramtest.FirstMessageID
	if sent := c.tg.SentTo(c.chatID); len(sent) > 0 {
		at = sent[len(sent)-1].MessageID // the question on screen
	}
	u := callbackUpdateAt(*c.next, at, c.chatID, choice)
	c.post(u)
	return u
}

// last returns the text of the last message the bot sent this chat.
func (c *tgChat) last() tgSent {
	c.t.Helper()
	sent := c.tg.SentTo(c.chatID)
	if len(sent) == 0 {
		c.t.Fatal("nothing sent to the chat")
	}
	return tgSent(sent[len(sent)-1])
}

type tgSent telegramtest.Sent

func startTelegram(t *testing.T) (*service, *telegramtest.Server, string) {
	tg := telegramtest.NewServer(t)
	const secret = "webhook-secret_123"
	s := startService(t, map[string]string{
		"TELEGRAM_BOT_TOKEN":      telegramtest.Token,
		"TELEGRAM_API_URL":        tg.URL,
		"TELEGRAM_WEBHOOK_SECRET": secret,
		"PANIC_WORD":              "thời tiết hôm nay",
	})
	return s, tg, secret
}

// reportTo walks a report through the webhook and returns the reference the
// acknowledgement carried. With followUp, the reporter allows messages later.
func reportTo(t *testing.T, c *tgChat, what string, followUp ...bool) string {
	t.Helper()
	c.say("/baotin")
	c.press("skip") // category
	c.say(what)
	c.press("next") // the story is told
	for range 7 {   // where, when, people, child, danger, media, contact
		c.press("skip")
	}
	if len(followUp) > 0 && followUp[0] {
		c.press("yes")
		c.say("sau 8 giờ tối")
	} else {
		c.press("skip")
	}
	if !strings.Contains(c.last().ReplyMarkup, `"callback_data":"send"`) || !strings.Contains(c.last().Text, what) {
		t.Fatalf("summary = %+v", c.last())
	}
	before := len(c.tg.SentTo(c.chatID))
	c.press("send")
	sent := c.tg.WaitSent(c.chatID, before+1, 10*time.Second)
	if len(sent) <= before {
		t.Fatalf("no acknowledgement:\n%s", c.s.log)
	}
	ack := sent[before].Text
	if !strings.Contains(sent[before].ReplyMarkup, `"callback_data":"m:report"`) {
		t.Errorf("the acknowledgement ends at a dead end, with no menu: %+v", sent[before])
	}
	i := strings.Index(ack, "TB-")
	if i < 0 {
		t.Fatalf("acknowledgement without a reference: %q", ack)
	}
	return ack[i : i+12]
}

func TestTelegramReportEndToEnd(t *testing.T) {
	s, tg, secret := startTelegram(t)
	hook := s.url + "/webhooks/telegram"
	const what = "Hàng xóm rủ con gái tôi sang Campuchia làm việc nhẹ lương cao"

	// setWebhook is called at start with our URL and secret.
	waitFor(t, func() bool { return len(tg.Calls("setWebhook")) > 0 })
	if c := tg.Calls("setWebhook")[0]; c.Params["url"] != hook || c.Params["secret_token"] != secret {
		t.Errorf("setWebhook params = %v", c.Params)
	}

	c := s.telegramChat(t, tg, secret, chatID)
	ref := reportTo(t, c, what)
	tips, err := s.db.OpenTips(context.Background(), 10)
	if err != nil || len(tips) != 1 {
		t.Fatalf("tips = %+v, %v", tips, err)
	}
	tip := tips[0]
	if tip.Reference != ref || tip.Channel != "telegram" || tip.Kind != "tip" || tip.Status != "new" || tip.Details["what"] != what {
		t.Errorf("tip = %+v, acknowledged reference %s", tip, ref)
	}
	waitFor(t, func() bool {
		msgs, _ := s.db.OutboxForTip(context.Background(), tip.ID)
		return len(msgs) == 1 && msgs[0].Status == "sent" && msgs[0].ProviderMessageID != ""
	})

	// Replaying the last update (Telegram retries) creates and sends nothing.
	before := len(tg.Calls("sendMessage"))
	c.post(callbackUpdateFrom(*c.next, chatID, "send"))
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
		{"odd Unicode", secret, textUpdate(6005, "\u202e\u0000\ufeffb\u0301a\u0301o tin\U0001F600"), http.StatusOK},
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

func TestTelegramHelpInDangerEndToEnd(t *testing.T) {
	s, tg, secret := startTelegram(t)
	c := s.telegramChat(t, tg, secret, 700001)
	const cry = "cuu toi, toi bi nhot khong cho ve" // no diacritics
	c.say(cry)
	sent := tg.SentTo(700001)
	if len(sent) != 3 || !strings.Contains(sent[0].Text, "113") || !strings.Contains(sent[0].Text, "111") {
		t.Fatalf("first answers = %+v, want the emergency numbers first", sent)
	}
	if !strings.Contains(sent[2].ReplyMarkup, `"callback_data":"yes"`) {
		t.Errorf("then the safety question with buttons: %+v", sent[2])
	}
	c.press("no")  // not safe to write
	c.press("yes") // in danger
	c.press("send_now")
	c.say("Bavet")  // where, roughly
	c.press("skip") // no safe way to reach them
	ack := tg.WaitSent(700001, len(tg.SentTo(700001))+1, 10*time.Second)
	tips, _ := s.db.OpenTips(context.Background(), 10)
	if len(tips) != 1 || tips[0].Kind != "help" || tips[0].Urgency != "urgent" || tips[0].Details["safe"] != "no" ||
		tips[0].Details["now_where"] != "Bavet" || tips[0].Details["story"] != cry {
		t.Fatalf("tips = %+v", tips)
	}
	// The words that raised the alarm are kept with the report, as written.
	if d := tips[0].Distress; len(d) != 1 || d[0].Text != cry || d[0].At.IsZero() {
		t.Errorf("distress = %+v, want the cry for help", d)
	}
	if last := ack[len(ack)-1].Text; !strings.Contains(last, tips[0].Reference) || !strings.Contains(last, "111") {
		t.Errorf("acknowledgement = %q", last)
	}
}

func TestTelegramStatusLookupEndToEnd(t *testing.T) {
	s, tg, secret := startTelegram(t)
	owner := s.telegramChat(t, tg, secret, 700002)
	ref := reportTo(t, owner, "Có người bị giữ hộ chiếu ở công ty")

	owner.say("/tracuu")
	typo := []byte(ref)
	typo[len(typo)-1] = map[bool]byte{true: 'A', false: 'B'}[typo[len(typo)-1] != 'A']
	owner.say(string(typo))
	if !strings.Contains(owner.last().Text, "chưa đúng") {
		t.Errorf("a typo = %q, want to be asked to check the code", owner.last().Text)
	}
	owner.say(strings.ToLower(strings.ReplaceAll(ref, "-", " ")))
	if got := owner.last().Text; !strings.Contains(got, ref) || !strings.Contains(got, "đã nhận") {
		t.Errorf("owner's lookup = %q", got)
	}
	// Someone else with the code learns nothing.
	other := s.telegramChat(t, tg, secret, 700003)
	other.say("TRA CUU " + ref)
	if got := other.last().Text; !strings.Contains(got, "Không tìm thấy") {
		t.Errorf("another sender's lookup = %q, want the not-found answer", got)
	}
}

func TestTelegramWipeEndToEnd(t *testing.T) {
	s, tg, secret := startTelegram(t)
	c := s.telegramChat(t, tg, secret, 700004)
	ref := reportTo(t, c, "Có người bị lừa sang Lào")
	_ = ref
	c.say("/giup")
	c.say("/xoa")
	calls := tg.Calls("deleteMessages")
	if len(calls) != 1 {
		t.Fatalf("deleteMessages called %d times, want 1", len(calls))
	}
	var ids []int
	if err := json.Unmarshal([]byte(calls[0].Params["message_ids"]), &ids); err != nil {
		t.Fatal(err)
	}
	deleted := map[int]bool{}
	for _, id := range ids {
		deleted[id] = true
	}
	// Every message the bot sent, the acknowledgement with the code included…
	for _, m := range tg.SentTo(700004) {
		if !deleted[m.MessageID] {
			t.Errorf("bot message %d (%.30q) not deleted", m.MessageID, m.Text)
		}
	}
	// …and the person's own messages.
	for _, id := range c.mine {
		if !deleted[id] {
			t.Errorf("the person's message %d was not deleted: %v", id, ids)
		}
	}
	// The panic word wipes too, and answers with something harmless.
	c.say("/giup")
	c.say("Thời tiết hôm nay")
	if got := c.last().Text; strings.Contains(got, "113") || strings.Contains(got, "tin báo") {
		t.Errorf("panic answer gives the service away: %q", got)
	}
	if n := len(tg.Calls("deleteMessages")); n != 2 {
		t.Errorf("deleteMessages called %d times after the panic word, want 2", n)
	}
}

func TestTelegramLanguageEndToEnd(t *testing.T) {
	s, tg, secret := startTelegram(t)
	c := s.telegramChat(t, tg, secret, 700005)
	c.say("/ngonngu")
	c.press("lang:en")
	sent := tg.SentTo(700005)
	if len(sent) < 2 || sent[len(sent)-2].Text != "Switched to English." || !strings.Contains(c.last().Text, "Hello") {
		t.Fatalf("after choosing English: %+v", sent)
	}
	c.say("/baotin")
	if got := c.last().Text; got != "What would you like to report?" {
		t.Errorf("report in English starts with %q", got)
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

// webClient is a browser talking to the web chat: a cookie jar and the
// page's own request shape.
type webClient struct {
	t    *testing.T
	base string
	http *http.Client
	n    int
}

func newWebClient(t *testing.T, base string) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{t: t, base: base, http: &http.Client{Jar: jar}}
}

type webReply struct {
	Text    string `json:"text"`
	Choices []struct {
		ID    string `json:"id"`
		Label string `json:"label"`
	} `json:"choices"`
}

func (w *webClient) send(text, choice string) ([]webReply, bool) {
	w.t.Helper()
	w.n++
	body, _ := json.Marshal(map[string]string{"id": fmt.Sprintf("m%d", w.n), "text": text, "choice": choice, "lang": "vi-VN"})
	req, _ := http.NewRequest(http.MethodPost, w.base+"/chat/send", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Tinbao", "1")
	resp, err := w.http.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Replies []webReply `json:"replies"`
		Wipe    bool       `json:"wipe"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		w.t.Fatalf("send %q/%q: status %d", text, choice, resp.StatusCode)
	}
	return out.Replies, out.Wipe
}

func (w *webClient) inbox() []string {
	w.t.Helper()
	resp, err := w.http.Get(w.base + "/chat/inbox")
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Messages []string `json:"messages"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return out.Messages
}

func TestWebChatEndToEnd(t *testing.T) {
	s := startService(t, nil)

	// The page: no external assets, a strict CSP, nothing cached.
	resp, err := http.Get(s.url + "/chat")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != http.StatusOK || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /chat: %d, CSP %q, Cache-Control %q", resp.StatusCode, csp, resp.Header.Get("Cache-Control"))
	}
	if !strings.Contains(string(page), "Thoát nhanh") || strings.Contains(string(page), "http://") || strings.Contains(string(page), "//cdn") {
		t.Errorf("page lacks the quick exit or loads something from elsewhere:\n%s", page)
	}
	for _, asset := range []string{"/chat/static/chat.js", "/chat/static/chat.css"} {
		if r, err := http.Get(s.url + asset); err != nil || r.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %v %v", asset, r, err)
		}
	}

	// Another site cannot make the browser post messages.
	req, _ := http.NewRequest(http.MethodPost, s.url+"/chat/send", strings.NewReader(`{"id":"x","text":"/start"}`))
	req.Header.Set("Content-Type", "application/json")
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusForbidden {
		t.Errorf("post without the page's header: %v %v, want 403", r, err)
	}

	// A report, typed without diacritics.
	w := newWebClient(t, s.url)
	replies, _ := w.send("/start", "")
	// Five doors, and requests about one's data last.
	if len(replies) != 1 || !strings.Contains(replies[0].Text, "/privacy") || len(replies[0].Choices) != 6 ||
		replies[0].Choices[5].ID != "m:data" {
		t.Fatalf("menu with the privacy notice = %+v", replies)
	}
	u, _ := url.Parse(s.url + "/chat")
	cookies := w.http.Jar.Cookies(u)
	if len(cookies) != 1 || cookies[0].Name != "tinbao_chat" {
		t.Fatalf("cookies = %+v", cookies)
	}
	replies, _ = w.send("", "m:report")
	w.send("", "skip")
	w.send("co nguoi bi giu o Campuchia, doi tien chuoc", "")
	w.send("", "next")
	for range 7 { // where, when, people, child, danger, photos, contact (no follow-up question on the web)
		w.send("", "skip")
	}
	replies, _ = w.send("gui", "")
	if len(replies) != 0 {
		t.Errorf("submitting answered %+v; the acknowledgement comes through the inbox", replies)
	}
	var inbox []string
	waitFor(t, func() bool { inbox = append(inbox, w.inbox()...); return len(inbox) > 0 })
	tips, _ := s.db.OpenTips(context.Background(), 10)
	if len(tips) != 1 || tips[0].Channel != "web" || tips[0].Urgency != "urgent" || !strings.Contains(inbox[0], tips[0].Reference) {
		t.Fatalf("tips = %+v, inbox = %q (a ransom is urgent)", tips, inbox)
	}

	// A browser session ends, so a web report answers to its code from
	// another session too (only its vague status).
	w2 := newWebClient(t, s.url)
	replies, _ = w2.send("tra cuu "+strings.ToLower(tips[0].Reference), "")
	if len(replies) != 1 || !strings.Contains(replies[0].Text, "đã nhận") {
		t.Errorf("lookup from a new browser session = %+v", replies)
	}

	// Quick exit: the session is gone and the cookie ended.
	req, _ = http.NewRequest(http.MethodPost, s.url+"/chat/exit", nil)
	r, err := w.http.Do(req)
	if err != nil || r.StatusCode != http.StatusNoContent {
		t.Fatalf("exit: %v %v", r, err)
	}
	if c := w.http.Jar.Cookies(u); len(c) != 0 {
		t.Errorf("cookie survived the quick exit: %+v", c)
	}
}

func TestWebChatRefusesBadInput(t *testing.T) {
	s := startService(t, nil)
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"not JSON", `{"id":`, http.StatusBadRequest},
		{"no message ID", `{"text":"hi"}`, http.StatusBadRequest},
		{"bad message ID", `{"id":"../../x","text":"hi"}`, http.StatusBadRequest},
		{"huge", `{"id":"a","text":"` + strings.Repeat("a", 40<<10) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		req, _ := http.NewRequest(http.MethodPost, s.url+"/chat/send", strings.NewReader(tc.body))
		req.Header.Set("X-Tinbao", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != tc.want {
			t.Errorf("%s: %v %v, want %d", tc.name, resp, err, tc.want)
		}
	}
}

// Session fixation: a cookie value tinbao never issued (planted in a
// victim's browser) does not become a session: the browser gets a fresh one,
// and the planted value reads nothing of the conversation.
func TestWebChatRefusesPlantedSessions(t *testing.T) {
	s := startService(t, nil)
	planted := strings.Repeat("A", 43) // well-formed, as any session ID looked before
	send := func(cookie, text string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, s.url+"/chat/send", strings.NewReader(`{"id":"m`+fmt.Sprint(len(text))+`","text":"`+text+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Tinbao", "1")
		req.AddCookie(&http.Cookie{Name: "tinbao_chat", Value: cookie})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, _ := send(planted, "/baotin")
	var issued string
	for _, c := range resp.Cookies() {
		if c.Name == "tinbao_chat" {
			issued = c.Value
		}
	}
	if issued == "" || issued == planted || strings.HasPrefix(issued, planted) {
		t.Fatalf("a planted cookie was kept as the session (new cookie %q)", issued)
	}
	// The planted value, and the bare session ID without its proof, reach
	// nothing of the conversation: "1" there is a fresh person's "1"; in
	// the victim's session it picks the first kind of report.
	bare, _, _ := strings.Cut(issued, ".")
	for _, forged := range []string{planted, bare, bare + ".0000"} {
		if r, body := send(forged, "1"); strings.Contains(body, "kể chuyện") || r.Header.Get("Set-Cookie") == "" {
			t.Errorf("cookie %q reached the victim's conversation (or was kept): %s", forged, body)
		}
	}
	if r, body := send(issued, "1"); r.StatusCode != http.StatusOK || !strings.Contains(body, "kể chuyện") {
		t.Fatalf("the issued session does not go on: %d %s", r.StatusCode, body)
	}
}
