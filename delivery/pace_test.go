package delivery_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"tinbao/bot/telegram/telegramtest"
	"tinbao/delivery"
	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// limiter is the real Redis pacer, on the test's own keys.
func limiter(t *testing.T) *storage.Sessions {
	rdb, prefix := storagetest.Redis(t)
	return storage.NewSessions(rdb, prefix, time.Hour)
}

// Two dispatchers, as two replicas, share one pace: a chat never gets two
// messages less than a second apart, and no message goes twice.
func TestTwoDispatchersShareThePace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const chat = 7_204_100_001
	for range 3 {
		e.commit(chat)
	}
	e.commit(7_204_100_002)
	e.commit(7_204_100_003)
	cfg := delivery.Config{Limiter: limiter(t), Paces: map[string]delivery.Pace{"telegram": delivery.TelegramPace}, Workers: 2}
	e.run(e.db, e.withTelegram(), cfg)
	e.run(e.openDB(), e.withTelegram(), cfg)

	sent := e.fake.WaitSent(chat, 3, deadline)
	if len(sent) != 3 {
		t.Fatalf("chat got %d messages, want 3", len(sent))
	}
	sort.Slice(sent, func(i, j int) bool { return sent[i].At.Before(sent[j].At) })
	for i := 1; i < len(sent); i++ {
		// The pace spaces the starts of the sends a second apart; what the
		// fake sees also carries each send's own latency, which varies by
		// tens of milliseconds under the race detector. Without the shared
		// pace the two dispatchers send within milliseconds of each other.
		if gap := sent[i].At.Sub(sent[i-1].At); gap < 800*time.Millisecond {
			t.Errorf("messages %d and %d to one chat %s apart, want at least 1s", i, i+1, gap)
		}
	}
	waitFor(t, "the other chats", func() bool {
		return len(e.fake.SentTo(7_204_100_002)) == 1 && len(e.fake.SentTo(7_204_100_003)) == 1
	})
	settle()
	if n := len(e.fake.Calls("sendMessage")); n != 5 {
		t.Errorf("%d sendMessage calls, want 5", n)
	}
}

// A storm of 429s: every replica holds off for retry_after, the messages
// keep their attempts, and every one arrives.
func TestTooManyRequestsStorm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.FailNext("sendMessage", 3, telegramtest.TooManyRequests(1))
	var tips []int64
	for i := range 4 {
		id, _ := e.commit(int64(7_204_200_001 + i))
		tips = append(tips, id)
	}
	e.run(e.db, e.withTelegram(), delivery.Config{Limiter: limiter(t),
		Paces: map[string]delivery.Pace{"telegram": delivery.TelegramPace}, Workers: 4})
	for _, id := range tips {
		m := e.waitRow(id, "every message sent", func(m storage.OutboxMessage) bool { return m.Status == "sent" })
		if m.Attempts != 1 {
			t.Errorf("tip %d: attempts = %d, want 1", id, m.Attempts)
		}
	}
	// No message went out while Telegram had asked us to wait (but for one
	// already on its way when the 429 came back, within 100 ms).
	calls := e.fake.Calls("sendMessage")
	var refused []time.Time
	for _, c := range calls[:3] {
		refused = append(refused, c.At)
	}
	for _, s := range e.fake.Sent() {
		for _, at := range refused {
			if d := s.At.Sub(at); d >= 100*time.Millisecond && d < 950*time.Millisecond {
				t.Errorf("a message was sent %s after a 429 that asked for 1s", d)
			}
		}
	}
}

// blockingSender sends for real, then stalls as if the process died before
// it could record the send.
type blockingSender struct {
	next    delivery.Sender
	sent    chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blockingSender) SendText(ctx context.Context, handle, text string) (string, error) {
	id, err := b.next.SendText(ctx, handle, text)
	b.once.Do(func() { close(b.sent) })
	<-b.release
	return id, err
}

// Killed between the send and the record: the message is sent again by
// another dispatcher once the lease runs out (at most one duplicate per
// message in flight), and marked once; the dead one's late mark changes
// nothing.
func TestCrashBetweenSendAndRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const chat = 7_204_300_001
	tipID, body := e.commit(chat)
	stuck := &blockingSender{next: e.telegram(), sent: make(chan struct{}), release: make(chan struct{})}
	stopStuck := e.run(e.db, map[string]delivery.Sender{"telegram": stuck}, delivery.Config{Workers: 1, Lease: 500 * time.Millisecond})
	select {
	case <-stuck.sent:
	case <-time.After(deadline):
		t.Fatal("the first dispatcher never sent")
	}
	e.run(e.openDB(), e.withTelegram(), delivery.Config{Workers: 1, Lease: time.Minute})
	m := e.waitRow(tipID, "the second dispatcher to send", func(m storage.OutboxMessage) bool { return m.Status == "sent" })
	if m.Attempts != 2 {
		t.Errorf("attempts = %d, want 2", m.Attempts)
	}
	close(stuck.release) // the dead one wakes up and tries to mark
	stopStuck()
	sent := e.fake.SentTo(chat)
	if len(sent) != 2 || sent[0].Text != body || sent[1].Text != body {
		t.Fatalf("sent %d times, want exactly twice (once per claim): %+v", len(sent), sent)
	}
	if got := e.row(tipID); got.Status != "sent" || got.ProviderMessageID != "1001" {
		t.Errorf("row = %+v, want the second send recorded", got)
	}
}

// slowSender takes a while per message.
type slowSender struct {
	next    delivery.Sender
	started chan struct{}
	once    sync.Once
}

func (s *slowSender) SendText(ctx context.Context, handle, text string) (string, error) {
	s.once.Do(func() { close(s.started) })
	time.Sleep(300 * time.Millisecond)
	return s.next.SendText(ctx, handle, text)
}

// Shutdown finishes the send under way, marks it, and leaves the rest queued.
func TestShutdownFinishesInFlightAndLeavesTheRest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var tips []int64
	for i := range 5 {
		id, _ := e.commit(int64(7_204_400_001 + i))
		tips = append(tips, id)
	}
	slow := &slowSender{next: e.telegram(), started: make(chan struct{})}
	stop := e.run(e.db, map[string]delivery.Sender{"telegram": slow}, delivery.Config{Workers: 1})
	<-slow.started
	stop()
	var sent, queued int
	for _, id := range tips {
		switch m := e.row(id); m.Status {
		case "sent":
			sent++
		case "queued":
			if m.Attempts != 0 {
				t.Errorf("tip %d: queued with %d attempts", id, m.Attempts)
			}
			queued++
		default:
			t.Errorf("tip %d left %s", id, m.Status)
		}
	}
	if sent != 1 || queued != 4 {
		t.Errorf("after shutdown: %d sent, %d queued; want 1 and 4", sent, queued)
	}
}
