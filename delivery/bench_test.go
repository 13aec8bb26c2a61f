package delivery_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
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

// BenchmarkCommitToAck is a figure of docs/performance.md: from
// a report's commit to its acknowledgement reaching the (fake) Bot API,
// through NOTIFY, the claim, the pace and the real Telegram client, one
// report at a time, below the bot's overall pace. It reports p50 and p99 in milliseconds, and the p50 as a
// ratio to the bound L_pg1, the latency of a single-row INSERT measured in
// the same run. Target: p50 ≤ 10 ms, p99 ≤ 50 ms.
func BenchmarkCommitToAck(b *testing.B) {
	ctx := context.Background()
	db := storagetest.DB(b)
	rdb, prefix := storagetest.Redis(b)
	fake := telegramtest.NewServer(b)
	keys, _ := identity.ParseKeyring(identity.NewSecret())
	db.SetKeys(keys)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tg, err := telegram.New(telegram.Config{Token: telegramtest.Token, APIURL: fake.URL}, nil, keys, log)
	if err != nil {
		b.Fatal(err)
	}
	d := delivery.New(db, keys, map[string]delivery.Sender{"telegram": tg}, delivery.Config{
		Limiter: storage.NewSessions(rdb, prefix, time.Hour),
		Paces:   map[string]delivery.Pace{"telegram": delivery.TelegramPace},
	}, log)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); d.Run(rctx) }()
	defer func() { cancel(); <-done }()

	// The bound: one durable single-row INSERT, one at a time.
	db.Pool().Exec(ctx, `CREATE TABLE bound (id bigserial PRIMARY KEY, v text)`)
	var insert []time.Duration
	for i := range 300 {
		start := time.Now()
		if _, err := db.Pool().Exec(ctx, `INSERT INTO bound (v) VALUES ($1)`, fmt.Sprint(i)); err != nil {
			b.Fatal(err)
		}
		insert = append(insert, time.Since(start))
	}
	lpg := percentile(insert, 50)

	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		// Reports arriving slower than the bot's 30 messages a second, so
		// the overall pace does not queue them behind each other.
		time.Sleep(40 * time.Millisecond)
		chat := int64(900000000 + i) // a new person each time: the per-chat pace does not apply
		handle := strconv.FormatInt(chat, 10)
		pseudo := keys.Pseudonym("telegram", handle)
		random := make([]byte, flows.RefPayloadLen)
		rand.Read(random)
		_, err := db.CommitTip(ctx, storage.NewTip{
			Report: flows.Report{Kind: flows.KindTip, Reference: flows.NewReference(random), Lang: "vi",
				Details: map[string]string{"what": "x"}, Ack: "Cảm ơn bạn."},
			Channel: "telegram", SenderPseudonym: pseudo, SourceMessageID: fmt.Sprint("b", i), Handle: handle,
		})
		if err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		sent := fake.WaitSent(chat, 1, 10*time.Second)
		if len(sent) != 1 {
			b.Fatalf("acknowledgement %d not sent", i)
		}
		lat = append(lat, sent[0].At.Sub(committed))
	}
	b.StopTimer()
	p50, p99 := percentile(lat, 50), percentile(lat, 99)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(lpg.Microseconds())/1000, "L_pg1_ms")
	b.ReportMetric(float64(p50)/float64(lpg), "p50_ratio_to_bound")
}

func percentile(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, len(s)*p/100)]
}
