package storage_test

import (
	"context"
	"testing"
	"time"

	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// Replies spend from the bot's budget without waiting; the outbox then
// waits for what they left, and while they flow takes at most its share.
func TestRepliesAndOutboxShareOneBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	s := storage.NewSessions(rdb, prefix, time.Minute)
	const interval, share = 100 * time.Millisecond, 200 * time.Millisecond

	// Idle: the outbox takes the whole budget, one slot per interval.
	if w, ok, err := s.ReserveShare(ctx, "bot", interval, share, time.Second); err != nil || !ok || w > 10*time.Millisecond {
		t.Fatalf("first reservation: %s %v %v", w, ok, err)
	}
	if w, ok, _ := s.ReserveShare(ctx, "bot", interval, share, time.Second); !ok || w < 80*time.Millisecond || w > interval {
		t.Errorf("idle: second slot in %s, want one interval", w)
	}
	// Five replies go at once and push the outbox's next slot past them.
	if _, err := s.SpendReplies(ctx, "bot", 5, interval); err != nil {
		t.Fatal(err)
	}
	w, ok, _ := s.ReserveShare(ctx, "bot", interval, share, time.Second)
	if !ok || w < 600*time.Millisecond {
		t.Errorf("after 5 replies the outbox waits %s, want at least 0.6s", w)
	}
	// While replies flow, the outbox keeps to its share.
	w2, ok, _ := s.ReserveShare(ctx, "bot", interval, share, 2*time.Second)
	if !ok || w2-w < share-10*time.Millisecond {
		t.Errorf("while replies flow, outbox slots %s apart, want its share %s", w2-w, share)
	}
	// Replies far past the budget owe at most a second.
	if w, err := s.SpendReplies(ctx, "bot", 100, interval); err != nil || w < 500*time.Millisecond {
		t.Fatalf("replies after others told to wait %s (%v), want their first slot's time", w, err)
	}
	if w, ok, _ := s.ReserveShare(ctx, "bot", interval, share, 5*time.Second); !ok || w > 1100*time.Millisecond {
		t.Errorf("after a surge of replies the outbox waits %s, want at most 1s", w)
	}
	// Past maxWait nothing is taken.
	if _, ok, _ := s.ReserveShare(ctx, "bot", interval, share, 0); ok {
		t.Error("a slot further off than maxWait was taken")
	}
}
