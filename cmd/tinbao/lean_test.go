package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tinbao/bot"
	"tinbao/delivery"
	"tinbao/flows"
	"tinbao/identity"
	"tinbao/locales"
	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// The figures of the lean webhook path (docs/performance.md): Redis round
// trips and Postgres statements per message, Bot API calls on the request
// path, bytes per conversation in Redis.

// roundTrips counts what a go-redis client sends: one per command sent
// alone, one per pipeline.
type roundTrips struct{ n atomic.Int64 }

func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

// countedTips counts the runner's calls into Postgres (each one statement or
// more) around the real store.
type countedTips struct {
	bot.Tips
	n atomic.Int64
}

func (c *countedTips) Commit(ctx context.Context, s bot.Submission) error {
	c.n.Add(1)
	return c.Tips.Commit(ctx, s)
}
func (c *countedTips) Status(ctx context.Context, ref flows.Reference, owners []string) (string, error) {
	c.n.Add(1)
	return c.Tips.Status(ctx, ref, owners)
}
func (c *countedTips) OpenThread(ctx context.Context, sender string) (flows.Reference, error) {
	c.n.Add(1)
	return c.Tips.OpenThread(ctx, sender)
}
func (c *countedTips) AppendReply(ctx context.Context, ref flows.Reference, sender, channel, id, text string) error {
	c.n.Add(1)
	return c.Tips.AppendReply(ctx, ref, sender, channel, id, text)
}

// leanRunner is the real runner on real Redis and Postgres, in process, with
// its round trips and statements counted.
type leanRunner struct {
	runner   *bot.Runner
	rdb      *redis.Client
	prefix   string
	sessions *storage.Sessions
	trips    *roundTrips
	tips     *countedTips
	keys     *identity.Keyring
	next     atomic.Int64
}

func newLeanRunner(t testing.TB) *leanRunner {
	t.Helper()
	rdb, prefix := storagetest.Redis(t)
	db, keys := openKeyedDB(t, storagetest.DatabaseURL(t))
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	trips := &roundTrips{}
	rdb.AddHook(trips)
	sessions := storage.NewSessions(rdb, prefix, 24*time.Hour)
	// As serve does: Telegram's replies spend from the bot's send budget,
	// counted in Finish's round trip.
	sessions.SpendRepliesOn(bot.ChannelTelegram, delivery.TelegramPace.Overall)
	tips := &countedTips{Tips: tipStore{db}}
	runner := bot.NewRunner(flows.New(cat, flows.Options{}), sessionStore{sessions}, tips, keys, slog.New(slog.DiscardHandler))
	return &leanRunner{runner: runner, rdb: rdb, prefix: prefix, sessions: sessions, trips: trips, tips: tips, keys: keys}
}

// send runs one Telegram message (text, or a press when choice) and returns
// the round trips and statements it cost.
func (l *leanRunner) send(t testing.TB, chat int64, text, choice string) (trips, statements int64) {
	t.Helper()
	id := l.next.Add(1)
	handle := strconv.FormatInt(chat, 10)
	m := bot.Message{Channel: bot.ChannelTelegram, Handle: handle, Sender: l.keys.Pseudonym(bot.ChannelTelegram, handle),
		MessageID: strconv.FormatInt(id, 10), Position: id, Text: text, Choice: choice, LangHint: "vi"}
	t0, s0 := l.trips.n.Load(), l.tips.n.Load()
	if _, err := l.runner.Handle(context.Background(), m); err != nil {
		t.Fatalf("message %q/%q: %v", text, choice, err)
	}
	return l.trips.n.Load() - t0, l.tips.n.Load() - s0
}

// Every kind of message costs at most two Redis round trips (Begin, and
// Finish with the channel's count beside it); one that commits nothing asks
// Postgres nothing, unless an officer wrote to the sender.
func TestRoundTripsPerMessage(t *testing.T) {
	l := newLeanRunner(t)
	const chat = 600001
	// Redis learns the scripts once (a NOSCRIPT answer costs the first
	// message of a new Redis one more round trip each): not counted.
	l.send(t, 1, "xin chao", "")
	for _, step := range []struct{ text, choice string }{
		{"/start", ""}, {"xin chao", ""}, {"", "m:report"}, {"", "skip"},
		{"Có người rủ em tôi sang Campuchia làm việc nhẹ lương cao", ""}, {"họ giữ hộ chiếu", ""},
		{"", "next"}, {"/khancap", ""}, {"/huy", ""}, {"cảm ơn", ""},
	} {
		trips, statements := l.send(t, chat, step.text, step.choice)
		if trips > 2 || statements != 0 {
			t.Errorf("%q%q: %d Redis round trips, %d Postgres statements; want ≤ 2 and 0", step.text, step.choice, trips, statements)
		}
	}
	// The replies were counted against the bot's send budget, within those
	// round trips.
	if n, err := l.rdb.Exists(context.Background(), l.prefix+"pace:{telegram}", l.prefix+"replies:{telegram}").Result(); err != nil || n != 2 {
		t.Errorf("the send budget was not spent: %d keys, %v", n, err)
	}
	// An officer wrote: the next free message asks Postgres which thread.
	if err := l.sessions.MarkThread(context.Background(), l.keys.Pseudonym(bot.ChannelTelegram, strconv.Itoa(chat))); err != nil {
		t.Fatal(err)
	}
	if _, statements := l.send(t, chat, "tôi nhớ thêm một chuyện", ""); statements != 1 {
		t.Errorf("after an officer's message: %d statements, want the open-thread query", statements)
	}
}

// The Bot API calls a webhook waits for: the median over a whole report is
// at most one (most turns none: the reply rides in the response, and a
// press's answer and keyboard removal are made later).
func TestBotAPICallsOnTheRequestPath(t *testing.T) {
	s, tg, secret := startTelegram(t)
	c := s.telegramChat(t, tg, secret, 600002)
	var perHook []int
	counted := func(before int) int {
		n := 0
		for _, call := range tg.Calls("")[before:] {
			if !call.InResponse && call.Method != "answerCallbackQuery" && call.Method != "editMessageReplyMarkup" {
				n++
			}
		}
		return n
	}
	step := func(do func()) {
		before := len(tg.Calls(""))
		do()
		perHook = append(perHook, counted(before))
	}
	step(func() { c.say("/baotin") })
	step(func() { c.press("skip") })
	step(func() { c.say("Có người rủ em tôi sang Campuchia") })
	step(func() { c.press("next") })
	for range 8 {
		step(func() { c.press("skip") })
	}
	step(func() { c.press("send") })
	step(func() { c.say("/xoa") })
	sorted := slices.Sorted(slices.Values(perHook))
	median := sorted[len(sorted)/2]
	t.Logf("Bot API calls on the request path per webhook: %v (median %d)", perHook, median)
	if median > 1 {
		t.Errorf("median %d Bot API calls on the request path, want ≤ 1: %v", median, perHook)
	}
	if n := len(tg.Calls("answerCallbackQuery")); n == 0 {
		waitFor(t, func() bool { return len(tg.Calls("answerCallbackQuery")) > 0 })
	}
}

// usedMemory reads INFO memory's used_memory.
func usedMemory(t testing.TB, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatal("no used_memory in INFO memory")
	return 0
}

// BenchmarkConversationMemory parks conversations mid-flow (a report at its
// story, told in one message) and then ends them (/huy), and reports Redis's
// used_memory delta per conversation, every key of theirs included. Run it
// alone on its Redis: other clients move used_memory too.
func BenchmarkConversationMemory(b *testing.B) {
	const n = 20000
	l := newLeanRunner(b)
	l.rdb.AddHook(&roundTrips{}) // nothing: keeps the figure comparable
	run := func(steps ...[2]string) {
		var wg sync.WaitGroup
		var next atomic.Int64
		for range clients {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= n {
						return
					}
					for _, s := range steps {
						l.send(b, 700000000+i, s[0], s[1])
					}
				}
			})
		}
		wg.Wait()
	}
	for b.Loop() {
		before := usedMemory(b, l.rdb)
		run([2]string{"/baotin", ""}, [2]string{"", "skip"}, [2]string{"Có người rủ em tôi sang Campuchia làm việc nhẹ lương cao, họ giữ hộ chiếu", ""})
		live := usedMemory(b, l.rdb)
		run([2]string{"/huy", ""})
		finished := usedMemory(b, l.rdb)
		b.ReportMetric(float64(live-before)/n, "B/live")
		b.ReportMetric(float64(finished-before)/n, "B/finished")
		keys, _ := l.rdb.DBSize(context.Background()).Result()
		fmt.Printf("memory: %d conversations, %.0f B live, %.0f B finished (keys in the db: %d)\n", n,
			float64(live-before)/n, float64(finished-before)/n, keys)
		b.StopTimer()
		iter := l.rdb.Scan(context.Background(), 0, l.prefix+"*", 1000).Iterator()
		for iter.Next(context.Background()) {
			l.rdb.Del(context.Background(), iter.Val())
		}
		b.StartTimer()
	}
}

// BenchmarkRoundTrips reports, for make bench's table, the most Redis round
// trips and Postgres statements any message of a report's conversation
// made (up to its summary; the commit is Postgres's one statement), with
// the send budget on, as serve runs it.
func BenchmarkRoundTrips(b *testing.B) {
	l := newLeanRunner(b)
	l.send(b, 1, "xin chao", "") // Redis learns the scripts: not counted
	steps := []struct{ text, choice string }{
		{"/start", ""}, {"", "m:report"}, {"", "skip"}, {"Có người rủ em tôi sang Campuchia làm việc", ""},
		{"họ giữ hộ chiếu", ""}, {"", "next"}, {"", "skip"}, {"/huy", ""}, {"cảm ơn", ""},
	}
	var most, statements int64
	for i := 0; b.Loop(); i++ {
		for _, s := range steps {
			trips, st := l.send(b, int64(700000+i), s.text, s.choice)
			most, statements = max(most, trips), max(statements, st)
		}
	}
	b.ReportMetric(float64(most), "redis_round_trips/msg")
	b.ReportMetric(float64(statements), "pg_statements/msg")
}
