package delivery_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tinbao/bot/telegram"
	"tinbao/bot/telegram/telegramtest"
	"tinbao/delivery"
	"tinbao/flows"
	"tinbao/identity"
	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// poll is the dispatcher's fallback poll in these tests.
const poll = 100 * time.Millisecond

// deadline bounds every wait for an asynchronous effect.
const deadline = 10 * time.Second

// syncBuffer is a bytes.Buffer safe for the dispatcher's goroutines to write
// while the test reads it.
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

// env is one test's world: its own Postgres schema, fake Bot API, keys and
// log. Every chat ID and message body it commits is checked to be absent from
// the log when the test ends.
type env struct {
	t       *testing.T
	dbURL   string
	db      *storage.DB
	keys    *identity.Keyring
	fake    *telegramtest.Server
	logBuf  *syncBuffer
	log     *slog.Logger
	nextMsg atomic.Int64

	mu      sync.Mutex
	secrets []string // chat IDs and bodies that must never be logged
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, logBuf: &syncBuffer{}}
	e.log = slog.New(slog.NewTextHandler(e.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Registered first, so it runs last: after every dispatcher has stopped.
	t.Cleanup(e.checkLog)
	keys, err := identity.ParseKeyring(identity.NewSecret())
	if err != nil {
		t.Fatal(err)
	}
	e.keys = keys
	e.dbURL = storagetest.DatabaseURL(t)
	e.db = e.openDB()
	e.fake = telegramtest.NewServer(t)
	return e
}

// openDB opens another pool on the test's schema, as another replica would.
func (e *env) openDB() *storage.DB {
	e.t.Helper()
	db, err := storage.Open(context.Background(), e.dbURL)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(db.Close)
	db.SetKeys(e.keys)
	return db
}

// telegram is the real adapter, pointed at the fake Bot API.
func (e *env) telegram() delivery.Sender {
	e.t.Helper()
	a, err := telegram.New(telegram.Config{Token: telegramtest.Token, APIURL: e.fake.URL}, nil, e.keys, e.log)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// withTelegram is a senders map with the real Telegram adapter.
func (e *env) withTelegram() map[string]delivery.Sender {
	return map[string]delivery.Sender{"telegram": e.telegram()}
}

// run starts a dispatcher on db and returns a function that stops it and
// waits for Run to return (also called at cleanup).
func (e *env) run(db *storage.DB, senders map[string]delivery.Sender, cfg delivery.Config) (stop func()) {
	e.t.Helper()
	if cfg.Poll == 0 {
		cfg.Poll = poll
	}
	d := delivery.New(db, e.keys, senders, cfg, e.log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(deadline):
			e.t.Errorf("dispatcher did not stop within %s", deadline)
		}
	})
	e.t.Cleanup(stop)
	return stop
}

// commit commits a tip from chatID on Telegram, as the bot does, and returns
// its ID and the acknowledgement's body.
func (e *env) commit(chatID int64) (tipID int64, body string) {
	e.t.Helper()
	random := make([]byte, flows.RefPayloadLen)
	rand.Read(random)
	ref := flows.NewReference(random)
	body = fmt.Sprintf("Cảm ơn bạn. Chúng tôi đã nhận tin báo, mã số: %s. Hãy giữ mã này.", ref)
	handle := strconv.FormatInt(chatID, 10)
	pseudonym := e.keys.Pseudonym("telegram", handle)
	e.mu.Lock()
	e.secrets = append(e.secrets, handle, body, string(ref))
	e.mu.Unlock()
	c, err := e.db.CommitTip(context.Background(), storage.NewTip{
		Report: flows.Report{
			Kind: flows.KindTip, Reference: ref, Lang: "vi",
			Details: map[string]string{"what": "Có người rủ em tôi sang Campuchia làm việc nhẹ lương cao"},
			Ack:     body,
		},
		Channel:         "telegram",
		SenderPseudonym: pseudonym,
		SourceMessageID: strconv.FormatInt(e.nextMsg.Add(1), 10),
		Handle:          handle,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c.TipID, body
}

// row returns the tip's one outbox message.
func (e *env) row(tipID int64) storage.OutboxMessage {
	e.t.Helper()
	msgs, err := e.db.OutboxForTip(context.Background(), tipID)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(msgs) != 1 {
		e.t.Fatalf("tip %d has %d outbox messages, want 1", tipID, len(msgs))
	}
	return msgs[0]
}

// waitRow polls the tip's outbox message until ok accepts it, and fails the
// test after the deadline.
func (e *env) waitRow(tipID int64, what string, ok func(storage.OutboxMessage) bool) storage.OutboxMessage {
	e.t.Helper()
	var m storage.OutboxMessage
	waitFor(e.t, what, func() bool {
		m = e.row(tipID)
		return ok(m)
	})
	return m
}

// due makes the tip's queued message due now instead of after its backoff,
// which other tests time.
func (e *env) due(tipID int64) {
	e.t.Helper()
	if _, err := e.db.Pool().Exec(context.Background(),
		`UPDATE outbox SET next_attempt_at = now() WHERE tip_id = $1 AND status = 'queued'`, tipID); err != nil {
		e.t.Fatal(err)
	}
}

// settle lets the dispatcher run a few more polls, for asserting that
// nothing more happens.
func settle() { time.Sleep(3 * poll) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", deadline, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) checkLog() {
	log := e.logBuf.String()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.secrets {
		if strings.Contains(log, s) {
			e.t.Errorf("the log contains %q:\n%s", s, log)
		}
	}
}

// 1. The acknowledgement reaches the right chat with the right text, and the
// row records Telegram's message ID.
func TestSendsAcknowledgementAndRecordsMessageID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const chat = 7_203_100_001
	other, _ := e.commit(7_203_100_002) // someone else's: must not cross over
	tipID, body := e.commit(chat)
	e.run(e.db, e.withTelegram(), delivery.Config{})

	sent := e.fake.WaitSent(chat, 1, deadline)
	if len(sent) != 1 {
		t.Fatalf("sent to %d: %d messages, want 1", chat, len(sent))
	}
	if sent[0].Text != body {
		t.Errorf("text = %q, want %q", sent[0].Text, body)
	}
	if sent[0].ReplyMarkup != "" {
		t.Errorf("reply_markup = %q, want none", sent[0].ReplyMarkup)
	}
	m := e.waitRow(tipID, "the row to be sent", func(m storage.OutboxMessage) bool { return m.Status == "sent" })
	if want := strconv.Itoa(sent[0].MessageID); m.ProviderMessageID != want {
		t.Errorf("provider_message_id = %q, want %q (the fake's message_id)", m.ProviderMessageID, want)
	}
	if m.Attempts != 1 || m.LastError != "" {
		t.Errorf("attempts = %d, last_error = %q; want 1 and none", m.Attempts, m.LastError)
	}
	e.waitRow(other, "the other row to be sent", func(m storage.OutboxMessage) bool { return m.Status == "sent" })
	if n := len(e.fake.SentTo(7_203_100_002)); n != 1 {
		t.Errorf("other chat got %d messages, want 1", n)
	}
	if n := len(e.fake.Calls("sendMessage")); n != 2 {
		t.Errorf("%d sendMessage calls, want 2", n)
	}
}

// 2. A 429 with retry_after: the message still arrives, and not before
// Telegram said.
func TestTooManyRequestsWaitsRetryAfter(t *testing.T) {
	t.Parallel()
	testRetryAfter(t, 2)
}

// The same with a wait the dispatcher's own first backoff (2 s ± 20 %) can
// never reach, so only honouring retry_after passes.
func TestRetryAfterLongerThanBackoffIsHonoured(t *testing.T) {
	t.Parallel()
	testRetryAfter(t, 3)
}

func testRetryAfter(t *testing.T, retryAfter int) {
	e := newEnv(t)
	const chat = 7_203_200_001
	e.fake.FailNext("sendMessage", 1, telegramtest.TooManyRequests(retryAfter))
	tipID, body := e.commit(chat)
	e.run(e.db, e.withTelegram(), delivery.Config{})

	sent := e.fake.WaitSent(chat, 1, deadline)
	if len(sent) != 1 || sent[0].Text != body {
		t.Fatalf("sent to %d: %+v, want the acknowledgement once", chat, sent)
	}
	calls := e.fake.Calls("sendMessage")
	if len(calls) != 2 {
		t.Fatalf("%d sendMessage calls, want 2 (the 429, then the send)", len(calls))
	}
	wait := time.Duration(retryAfter) * time.Second
	if gap := sent[0].At.Sub(calls[0].At); gap < wait {
		t.Errorf("sent %s after the 429, before retry_after=%d s", gap, retryAfter)
	}
	m := e.waitRow(tipID, "the row to be sent", func(m storage.OutboxMessage) bool { return m.Status == "sent" })
	if m.Attempts != 1 {
		t.Errorf("attempts = %d, want 1: being throttled must not use up a message's attempts", m.Attempts)
	}
	if m.ProviderMessageID != strconv.Itoa(sent[0].MessageID) {
		t.Errorf("provider_message_id = %q, want %d", m.ProviderMessageID, sent[0].MessageID)
	}
}

// A 429 without retry_after (the field is optional in the Bot API, and other
// channels may not say how long to wait) backs off instead of retrying at once.
func TestTooManyRequestsWithoutRetryAfterBacksOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const chat = 7_203_250_001
	e.fake.FailNext("sendMessage", 1, telegramtest.Error{Code: http.StatusTooManyRequests, Description: "Too Many Requests"})
	tipID, _ := e.commit(chat)
	e.run(e.db, e.withTelegram(), delivery.Config{})

	sent := e.fake.WaitSent(chat, 1, deadline)
	if len(sent) != 1 {
		t.Fatalf("sent to %d: %d messages, want 1", chat, len(sent))
	}
	calls := e.fake.Calls("sendMessage")
	if len(calls) != 2 {
		t.Fatalf("%d sendMessage calls, want 2", len(calls))
	}
	// The first backoff is 2 s - 20 % at least.
	if gap := sent[0].At.Sub(calls[0].At); gap < 1600*time.Millisecond {
		t.Errorf("retried %s after a 429 without retry_after; want the backoff (≥ 1.6 s)", gap)
	}
	if m := e.waitRow(tipID, "the row to be sent", func(m storage.OutboxMessage) bool { return m.Status == "sent" }); m.Attempts != 2 {
		t.Errorf("attempts = %d, want 2", m.Attempts)
	}
}

// 3. A person who blocked the bot: undeliverable at once, never retried.
func TestBlockedByUserIsUndeliverableAndNotRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const chat = 7_203_300_001
	e.fake.FailNext("sendMessage", 1, telegramtest.BlockedByUser)
	tipID, _ := e.commit(chat)
	e.run(e.db, e.withTelegram(), delivery.Config{})

	m := e.waitRow(tipID, "the row to be undeliverable", func(m storage.OutboxMessage) bool { return m.Status == "undeliverable" })
	if !strings.Contains(m.LastError, "blocked") {
		t.Errorf("last_error = %q, want it to say the bot was blocked", m.LastError)
	}
	if m.Attempts != 1 || m.ProviderMessageID != "" {
		t.Errorf("attempts = %d, provider_message_id = %q; want 1 and none", m.Attempts, m.ProviderMessageID)
	}
	settle() // the fake would now accept a retry: there must be none
	if n := len(e.fake.Calls("sendMessage")); n != 1 {
		t.Errorf("%d sendMessage calls, want exactly 1", n)
	}
	if got := e.row(tipID); got.Status != "undeliverable" {
		t.Errorf("status = %q later, want undeliverable", got.Status)
	}
}

// 4. A channel without a sender keeps its messages queued and says why, until
// a dispatcher that has the sender runs.
func TestChannelWithoutSenderStaysQueuedUntilConfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const chat = 7_203_400_001
	tipID, body := e.commit(chat)
	stop := e.run(e.db, map[string]delivery.Sender{}, delivery.Config{})

	m := e.waitRow(tipID, "the row to be requeued with a reason", func(m storage.OutboxMessage) bool {
		return m.Status == "queued" && m.Attempts >= 1
	})
	if !strings.Contains(m.LastError, "telegram") || !strings.Contains(m.LastError, "not configured") {
		t.Errorf("last_error = %q, want it to say the telegram channel is not configured", m.LastError)
	}
	stop()
	if m := e.row(tipID); m.Status != "queued" {
		t.Errorf("status = %q after the dispatcher without sender stopped, want queued", m.Status)
	}
	if n := len(e.fake.Calls("")); n != 0 {
		t.Fatalf("%d calls to Telegram without a Telegram sender", n)
	}

	e.due(tipID)
	e.run(e.db, e.withTelegram(), delivery.Config{})
	sent := e.fake.WaitSent(chat, 1, deadline)
	if len(sent) != 1 || sent[0].Text != body {
		t.Fatalf("sent to %d: %+v, want the acknowledgement once", chat, sent)
	}
	m = e.waitRow(tipID, "the row to be sent", func(m storage.OutboxMessage) bool { return m.Status == "sent" })
	if m.LastError != "" || m.ProviderMessageID != strconv.Itoa(sent[0].MessageID) {
		t.Errorf("last_error = %q, provider_message_id = %q", m.LastError, m.ProviderMessageID)
	}
}

// 5. A dispatcher that died mid-send leaves the row in 'sending'; once the
// lease runs out another one sends it.
func TestExpiredLeaseIsReclaimedAndSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const chat = 7_203_500_001
	tipID, body := e.commit(chat)
	// The crashed dispatcher: claimed under a tiny lease, never marked.
	claimed, err := e.db.ClaimOutbox(context.Background(), 10, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 1 {
		t.Fatalf("claimed %d messages, want 1", len(claimed))
	}
	if m := e.row(tipID); m.Status != "sending" || m.Attempts != 1 {
		t.Fatalf("after the claim: status = %q, attempts = %d; want sending, 1", m.Status, m.Attempts)
	}

	e.run(e.db, e.withTelegram(), delivery.Config{})
	sent := e.fake.WaitSent(chat, 1, deadline)
	if len(sent) != 1 || sent[0].Text != body {
		t.Fatalf("sent to %d: %+v, want the acknowledgement once", chat, sent)
	}
	m := e.waitRow(tipID, "the row to be sent", func(m storage.OutboxMessage) bool { return m.Status == "sent" })
	if m.Attempts != 2 || m.ProviderMessageID != strconv.Itoa(sent[0].MessageID) {
		t.Errorf("attempts = %d, provider_message_id = %q; want 2 and %d", m.Attempts, m.ProviderMessageID, sent[0].MessageID)
	}
	settle()
	if n := len(e.fake.Calls("sendMessage")); n != 1 {
		t.Errorf("%d sendMessage calls, want 1", n)
	}
}

// 6. Two dispatchers (two pools, as two replicas) on one outbox send every
// message exactly once.
func TestTwoDispatchersSendEachMessageOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 30
	const base = 7_203_600_000
	cfg := delivery.Config{Workers: 4}
	e.run(e.openDB(), e.withTelegram(), cfg)
	e.run(e.openDB(), e.withTelegram(), cfg)

	tips := make([]int64, n)
	for i := range n {
		tips[i], _ = e.commit(base + int64(i))
	}
	waitFor(t, fmt.Sprintf("%d messages to be sent", n), func() bool { return len(e.fake.Sent()) >= n })
	settle() // a duplicate would show up now
	for i := range n {
		if got := len(e.fake.SentTo(base + int64(i))); got != 1 {
			t.Errorf("chat %d got %d messages, want 1", base+i, got)
		}
	}
	if got := len(e.fake.Calls("sendMessage")); got != n {
		t.Errorf("%d sendMessage calls, want %d", got, n)
	}
	for _, id := range tips {
		m := e.waitRow(id, "every row to be sent", func(m storage.OutboxMessage) bool { return m.Status == "sent" })
		if m.Attempts != 1 {
			t.Errorf("tip %d: attempts = %d, want 1", id, m.Attempts)
		}
	}
}

// 7. A message that keeps failing fails for good after MaxAttempts, and says so.
func TestGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const chat = 7_203_700_001
	e.fake.FailNext("sendMessage", 100, telegramtest.Error{Code: http.StatusInternalServerError, Description: "Internal Server Error"})
	tipID, _ := e.commit(chat)
	e.run(e.db, e.withTelegram(), delivery.Config{MaxAttempts: 2})

	m := e.waitRow(tipID, "the first failure to be requeued", func(m storage.OutboxMessage) bool {
		return m.Status == "queued" && m.Attempts == 1
	})
	if !strings.Contains(m.LastError, "Internal Server Error") {
		t.Errorf("last_error after attempt 1 = %q, want Telegram's error", m.LastError)
	}
	e.due(tipID) // skip the 2 s backoff
	m = e.waitRow(tipID, "the row to fail", func(m storage.OutboxMessage) bool { return m.Status == "failed" })
	if m.Attempts != 2 {
		t.Errorf("attempts = %d, want 2", m.Attempts)
	}
	if !strings.Contains(m.LastError, "2 attempts") || !strings.Contains(m.LastError, "Internal Server Error") {
		t.Errorf("last_error = %q, want it to give the attempts and Telegram's error", m.LastError)
	}
	settle()
	if n := len(e.fake.Calls("sendMessage")); n != 2 {
		t.Errorf("%d sendMessage calls, want 2", n)
	}
	if n := len(e.fake.Sent()); n != 0 {
		t.Errorf("%d messages sent, want none", n)
	}
}

// 8. Whatever happens, the log never holds a chat ID or a message body (every
// test above checks the same at its end; this one goes through every path).
func TestLogNeverHoldsChatIDOrBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// First a message for a channel the dispatcher has no sender for.
	tips := make([]int64, 4)
	tips[0], _ = e.commit(7_203_800_000)
	stop := e.run(e.db, map[string]delivery.Sender{}, delivery.Config{})
	e.waitRow(tips[0], "not configured", func(m storage.OutboxMessage) bool { return m.Status == "queued" && m.LastError != "" })
	stop()
	e.due(tips[0])

	// Then, with Telegram: blocked, 429, chat not found, and successes (the
	// retry, and the first message). A server error is TestGivesUpAfterMaxAttempts'.
	e.fake.FailNext("sendMessage", 1, telegramtest.BlockedByUser)
	e.fake.FailNext("sendMessage", 1, telegramtest.TooManyRequests(1))
	e.fake.FailNext("sendMessage", 1, telegramtest.ChatNotFound)
	for i := 1; i < len(tips); i++ {
		tips[i], _ = e.commit(7_203_800_000 + int64(i))
	}
	e.run(e.db, e.withTelegram(), delivery.Config{Workers: 1})
	for _, id := range tips {
		e.waitRow(id, "every row to end", func(m storage.OutboxMessage) bool {
			return m.Status == "sent" || m.Status == "undeliverable"
		})
	}
	log := e.logBuf.String()
	for _, want := range []string{"not configured", "blocked", "retry after", "chat not found", "outbox message sent"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q; this test did not go through every path:\n%s", want, log)
		}
	}
	// checkLog, at cleanup, asserts the chat IDs, bodies and reference codes
	// are nowhere in it.
}
