package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"tinbao/bot"
	"tinbao/bot/telegram/telegramtest"
	"tinbao/bot/web"
	"tinbao/flows"
	"tinbao/handlers"
	"tinbao/identity"
	"tinbao/locales"
	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// noTips is a database with no reports, counting how often it is read.
type noTips struct{ reads atomic.Int64 }

func (*noTips) Commit(context.Context, bot.Submission) error { return nil }
func (n *noTips) Status(context.Context, flows.Reference, []string) (string, error) {
	n.reads.Add(1)
	return "", bot.ErrNotFound
}
func (*noTips) OpenThread(context.Context, string) (flows.Reference, error) {
	return "", bot.ErrNotFound
}
func (*noTips) AppendReply(context.Context, flows.Reference, string, string, string, string) error {
	return bot.ErrNotFound
}

// publicOnRedis is the public listener's handler, wired as serve wires it
// but in process, on real Redis (under its own prefix) and no database.
type publicOnRedis struct {
	h      http.Handler
	rdb    *redis.Client
	prefix string
	tips   *noTips
}

func newPublicOnRedis(t *testing.T, limits bot.Limits, trustedHeader string) *publicOnRedis {
	t.Helper()
	rdb, prefix := storagetest.Redis(t)
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := identity.ParseKeyring(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	sessions := storage.NewSessions(rdb, prefix, 24*time.Hour)
	tips := &noTips{}
	runner := bot.NewRunner(flows.New(cat, flows.Options{PrivacyURL: "http://tinbao.test/privacy"}), sessionStore{sessions}, tips, keys, log)
	runner.Limit(limits)
	h, err := handlers.New(handlers.Config{TrustedProxyHeader: trustedHeader}, nil, web.New(runner, keys, sessions), cat, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	return &publicOnRedis{h: h.Public(), rdb: rdb, prefix: prefix, tips: tips}
}

// keys lists the Redis keys written so far.
func (p *publicOnRedis) keys(t *testing.T) []string {
	t.Helper()
	ks, err := p.rdb.Keys(context.Background(), p.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// do serves one request from remote (host:port), with headers.
func (p *publicOnRedis) do(method, path, body, remote, cookie string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = remote
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Tinbao", "1")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	if cookie != "" {
		r.AddCookie(&http.Cookie{Name: "tinbao_chat", Value: cookie})
	}
	w := httptest.NewRecorder()
	p.h.ServeHTTP(w, r)
	return w
}

func chatCookieOf(w *httptest.ResponseRecorder) string {
	for _, c := range w.Result().Cookies() {
		if c.Name == "tinbao_chat" && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

func msg(id, text, choice string) string {
	b, _ := json.Marshal(map[string]string{"id": id, "text": text, "choice": choice, "lang": "vi"})
	return string(b)
}

var testLimits = bot.Limits{
	LookupsPerSender: bot.Rate{N: 5, Per: time.Hour}, LookupsPerAddress: bot.Rate{N: 3, Per: time.Hour},
	LookupsPerCode: bot.Rate{N: 50, Per: time.Hour}, Lookups: bot.Rate{N: 1000, Per: time.Minute},
	NewSessionsPerAddress: bot.Rate{N: 3, Per: time.Hour},
}

// Sessions are lazy: opening the page, its assets, polls and exits
// without a session, empty or malformed posts, and the page's opening
// request write nothing to Redis and set no cookie.
func TestWebChatWritesNothingWithoutAMessage(t *testing.T) {
	p := newPublicOnRedis(t, testLimits, "")
	const from = "192.0.2.1:1000"
	forged := strings.Repeat("A", 43) + ".forged"
	for _, tc := range []struct {
		name, method, path, body, cookie string
		want                             int
	}{
		{"the page", "GET", "/chat", "", "", 200},
		{"its script", "GET", "/chat/static/chat.js", "", "", 200},
		{"a poll", "GET", "/chat/inbox?shown=0", "", "", 200},
		{"a poll with a forged cookie", "GET", "/chat/inbox?shown=3", "", forged, 200},
		{"exit", "POST", "/chat/exit", "", "", 204},
		{"exit with a forged cookie", "POST", "/chat/exit", "", forged, 204},
		{"empty body", "POST", "/chat/send", "", "", 400},
		{"empty message", "POST", "/chat/send", msg("a1", "", ""), "", 400},
		{"blank text", "POST", "/chat/send", msg("a2", "   ", ""), "", 400},
		{"malformed", "POST", "/chat/send", `{"id":`, "", 400},
		{"bad ID", "POST", "/chat/send", msg("../x", "hi", ""), "", 400},
		{"the page's opening", "POST", "/chat/send", msg("a3", "", flows.ChoiceAgain), "", 200},
	} {
		w := p.do(tc.method, tc.path, tc.body, from, tc.cookie)
		if w.Code != tc.want || chatCookieOf(w) != "" {
			t.Errorf("%s: %d (cookie %q), want %d and no cookie", tc.name, w.Code, chatCookieOf(w), tc.want)
		}
		if ks := p.keys(t); len(ks) != 0 {
			t.Fatalf("%s wrote to Redis: %q", tc.name, ks)
		}
	}
	// The opening is the menu with the privacy notice; the session made by
	// the first real message does not say the notice again.
	w := p.do("POST", "/chat/send", msg("a4", "", flows.ChoiceAgain), from, "")
	if !strings.Contains(w.Body.String(), "/privacy") || !strings.Contains(w.Body.String(), "m:report") {
		t.Fatalf("opening = %s", w.Body)
	}
	w = p.do("POST", "/chat/send", `{"id":"a5","choice":"m:report","lang":"vi","greeted":true}`, from, "")
	if w.Code != 200 || chatCookieOf(w) == "" || strings.Contains(w.Body.String(), "privacy") {
		t.Errorf("first message after the opening: %d, cookie %q, %s", w.Code, chatCookieOf(w), w.Body)
	}
}

// New sessions are limited per client address: past the limit, a calm 429
// that the page shows, no cookie, nothing kept. Another address, an IPv6
// client in another /64, and a browser that has its session go on.
func TestWebChatSessionsLimitedPerAddress(t *testing.T) {
	p := newPublicOnRedis(t, testLimits, "")
	newSession := func(remote string, headers ...string) *httptest.ResponseRecorder {
		return p.do("POST", "/chat/send", msg("m1", "/baotin", ""), remote, "", headers...)
	}
	var first string
	for i := range 3 {
		w := newSession("192.0.2.1:" + fmt.Sprint(1000+i))
		if w.Code != 200 || chatCookieOf(w) == "" {
			t.Fatalf("session %d: %d %s", i+1, w.Code, w.Body)
		}
		if first == "" {
			first = chatCookieOf(w)
		}
	}
	before := len(p.keys(t))
	w := newSession("192.0.2.1:2000", "X-Forwarded-For", "203.0.113.77") // not trusted: ignored
	var body struct {
		Replies []struct{ Text string } `json:"replies"`
	}
	json.Unmarshal(w.Body.Bytes(), &body)
	if w.Code != http.StatusTooManyRequests || chatCookieOf(w) != "" || w.Header().Get("Retry-After") == "" ||
		len(body.Replies) != 1 || !strings.Contains(body.Replies[0].Text, "111") {
		t.Fatalf("fourth session from one address: %d, cookie %q, %s", w.Code, chatCookieOf(w), w.Body)
	}
	if after := len(p.keys(t)); after != before {
		t.Errorf("a refused session wrote %d keys", after-before)
	}
	w = p.do("POST", "/chat/send", `{"id":"m2","text":"/baotin","lang":"en"}`, "192.0.2.1:2001", "")
	if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), "new conversations") {
		t.Errorf("the calm answer is not in the page's language: %s", w.Body)
	}
	// The browser that has its session goes on.
	if w := p.do("POST", "/chat/send", msg("m2", "", "skip"), "192.0.2.1:1000", first); w.Code != 200 {
		t.Errorf("an existing session was refused: %d %s", w.Code, w.Body)
	}
	if w := newSession("192.0.2.2:1000"); w.Code != 200 {
		t.Errorf("another address was refused: %d", w.Code)
	}
	// IPv6: one /64 is one client.
	for i := range 3 {
		if w := newSession(fmt.Sprintf("[2001:db8:1:2::%x]:1000", i+1)); w.Code != 200 {
			t.Fatalf("IPv6 session %d: %d", i+1, w.Code)
		}
	}
	if w := newSession("[2001:db8:1:2:ffff::9]:1000"); w.Code != http.StatusTooManyRequests {
		t.Errorf("a new address in the same /64 got a session: %d", w.Code)
	}
	if w := newSession("[2001:db8:1:3::1]:1000"); w.Code != 200 {
		t.Errorf("another /64 was refused: %d", w.Code)
	}
}

// Behind a proxy, the address is the right-most entry of the trusted
// header: the proxy's clients are told apart, and what a client writes
// into the header itself changes nothing.
func TestWebChatTrustedProxyHeader(t *testing.T) {
	p := newPublicOnRedis(t, testLimits, "X-Forwarded-For")
	const proxy = "10.0.0.1:443"
	post := func(xff string) int {
		return p.do("POST", "/chat/send", msg("m1", "/baotin", ""), proxy, "", "X-Forwarded-For", xff).Code
	}
	for i := range 3 {
		// The client names a new address each time; the proxy appends the real one.
		if c := post(fmt.Sprintf("198.51.100.%d, 203.0.113.5", i)); c != 200 {
			t.Fatalf("session %d: %d", i+1, c)
		}
	}
	if c := post("198.51.100.99, 203.0.113.5"); c != http.StatusTooManyRequests {
		t.Errorf("a client spoofing the header's left part got a fourth session: %d", c)
	}
	if c := post("203.0.113.5, 203.0.113.6"); c != 200 {
		t.Errorf("another client behind the proxy was refused: %d", c)
	}
}

// Lookups from the web are limited per address, across sessions: a new
// session is free, the address is not. Refused lookups read nothing.
func TestWebLookupsLimitedPerAddress(t *testing.T) {
	limits := testLimits
	limits.NewSessionsPerAddress = bot.Rate{N: 100, Per: time.Hour}
	p := newPublicOnRedis(t, limits, "")
	lookup := func(remote string) string {
		w := p.do("POST", "/chat/send", msg("m1", "tra cuu TB-7K3M-Q91B", ""), remote, "")
		if w.Code != 200 {
			t.Fatalf("lookup: %d %s", w.Code, w.Body)
		}
		return w.Body.String()
	}
	for i := range 3 {
		if got := lookup("192.0.2.1:1"); !strings.Contains(got, "Không tìm thấy") {
			t.Fatalf("lookup %d: %s", i+1, got)
		}
	}
	if got := lookup("192.0.2.1:1"); !strings.Contains(got, "nhiều người đang tra cứu") || p.tips.reads.Load() != 3 {
		t.Errorf("fourth lookup from one address, in a new session: %s (%d reads)", got, p.tips.reads.Load())
	}
	if got := lookup("192.0.2.2:1"); !strings.Contains(got, "Không tìm thấy") {
		t.Errorf("another address was held up: %s", got)
	}
}

// The memory ceiling: 100,000 requests (10,000 under -race) without a cookie from one address
// (pages, polls, messages, lookups of made-up codes) leave a handful of
// Redis keys, each with a TTL, and everything past the session limit gets
// a 429. Without lazy sessions and the limit, each message would leave a
// session behind: 50,000 of them.
func TestWebChatMemoryCeiling(t *testing.T) {
	p := newPublicOnRedis(t, bot.DefaultLimits, "")
	total, workers := 100_000, 8
	if raceDetector {
		total = 10_000 // the same mix; -race makes each request ten times slower
	}
	codes := make([]string, 64)
	for i := range codes {
		codes[i] = string(flows.NewReference([]byte{byte(i), 1, 2, 3, 4, 5, 6}))
	}
	var ok, limited, other atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for g := range workers {
		wg.Go(func() {
			for i := g; i < total; i += workers {
				var w *httptest.ResponseRecorder
				switch i % 4 {
				case 0:
					w = p.do("GET", "/chat", "", "192.0.2.1:1000", "")
				case 1:
					w = p.do("GET", "/chat/inbox?shown=0", "", "192.0.2.1:1000", "")
				case 2:
					w = p.do("POST", "/chat/send", msg(fmt.Sprint("m", i), "có người bị giữ ở Campuchia", ""), "192.0.2.1:1000", "")
				case 3:
					w = p.do("POST", "/chat/send", msg(fmt.Sprint("m", i), "tra cuu "+codes[i%len(codes)], ""), "192.0.2.1:1000", "")
				}
				switch {
				case w.Code == http.StatusTooManyRequests:
					limited.Add(1)
				case w.Code == http.StatusOK:
					ok.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	wg.Wait()
	n := bot.DefaultLimits.NewSessionsPerAddress.N
	if other.Load() != 0 || limited.Load() != int64(total/2-n) || ok.Load() != int64(total/2+n) {
		t.Errorf("%d OK, %d limited, %d other; want every message past the first %d sessions limited", ok.Load(),
			limited.Load(), other.Load(), n)
	}
	// At most per session: its state, its message's dedupe mark, its flood
	// counter, its own lookup counter; and the address's two counters, a
	// counter per code looked up (at most the address's lookups), the
	// service's counter.
	bound := 4*n + 2 + bot.DefaultLimits.LookupsPerAddress.N + 1
	ks := p.keys(t)
	if len(ks) > bound {
		t.Errorf("%d requests left %d Redis keys, want at most %d: %q", total, len(ks), bound, ks)
	}
	for _, k := range ks {
		if ttl := p.rdb.PTTL(context.Background(), k).Val(); ttl <= 0 {
			t.Errorf("key %s never expires (%s)", k, ttl)
		}
	}
	t.Logf("%d requests in %s: %d keys in Redis (bound %d), %d limited", total, time.Since(start).Round(time.Millisecond),
		len(ks), bound, limited.Load())
}

// A story told in four long messages reaches its summary on Telegram: the
// fake Bot API refuses a text over 4,096 characters, as Telegram does, and
// the summary once was 6,257 and never arrived.
func TestTelegramLongStoryReachesSummary(t *testing.T) {
	s, tg, secret := startTelegram(t)
	c := s.telegramChat(t, tg, secret, 700123)
	part := string([]rune(strings.Repeat("Có người rủ em tôi sang Campuchia làm việc nhẹ lương cao, giữ hộ chiếu. ", 27))[:1900])
	c.say("/baotin")
	c.press("skip")
	for range 4 {
		c.say(part)
	}
	c.press("next")
	for range 10 {
		if c.waitTextFor("xem lại", 200*time.Millisecond) {
			break
		}
		c.press("skip")
	}
	if !c.waitText("Bạn xem lại nhé") {
		t.Fatalf("the summary never reached the chat:\n%s", s.log)
	}
}

// A story told in one long message, as long as Telegram lets a person send
// (4,096 characters), is kept whole: it was refused past 2,000 with "write
// it shorter or split it", and the person, on a phone, had to cut their own
// words into pieces or lose them.
func TestTelegramLongMessageKept(t *testing.T) {
	s, tg, secret := startTelegram(t)
	c := s.telegramChat(t, tg, secret, 700124)
	story := string([]rune(strings.Repeat("Có người rủ em tôi sang Campuchia làm việc nhẹ lương cao, giữ hộ chiếu. ", 60))[:telegramtest.MaxText])
	c.say("/baotin")
	c.press("skip")
	c.say(story)
	if strings.Contains(c.last().Text, "dài") {
		t.Fatalf("a message Telegram carries was refused: %q", c.last().Text)
	}
	c.press("next")
	for range 10 {
		if c.waitTextFor("xem lại", 200*time.Millisecond) {
			break
		}
		c.press("skip")
	}
	c.press("send")
	var tips []storage.Tip
	waitFor(t, func() bool { tips, _ = s.db.OpenTips(context.Background(), 10); return len(tips) == 1 })
	if got := tips[0].Details["what"]; got != story {
		t.Errorf("the report keeps %d of the %d characters told", utf8.RuneCountInString(got), utf8.RuneCountInString(story))
	}
}
