package storage_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tinbao/flows"
	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// TestSessionsOnRedisCluster runs the bot's session code against the 3-master
// Redis Cluster that scripts/services.sh starts: every multi-key script must
// keep its keys in one hash slot, or the cluster refuses it (CROSSSLOT).
func TestSessionsOnRedisCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, err := storage.OpenRedis(storagetest.Need(t, "TEST_REDIS_CLUSTER_URL"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rdb.(*redis.ClusterClient); !ok {
		t.Fatalf("OpenRedis gave a %T for a cluster URL", rdb)
	}
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "t:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		rdb.(*redis.ClusterClient).ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
			iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				c.Del(ctx, iter.Val())
			}
			return nil
		})
		rdb.Close()
	})
	s := storage.NewSessions(rdb, prefix, time.Hour)
	s.SpendRepliesOn("telegram", time.Millisecond)

	// Many senders land on every master; each one's keys stay together.
	for i := range 30 {
		sender := fmt.Sprintf("sender-%d", i)
		if i%10 == 9 {
			// A master forgot its scripts (a restart): the pipelines,
			// split across masters, send again only what did not run.
			rdb.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
				return c.ScriptFlush(ctx).Err()
			})
		}
		begun, err := s.Begin(ctx, "telegram", "m1", sender, "tok")
		if err != nil || begun.Session.Flow != "" || begun.Recent != 1 {
			t.Fatalf("Begin %s: %+v, %v", sender, begun, err)
		}
		if _, err := s.Begin(ctx, "telegram", "m2", sender, "other"); !errors.Is(err, storage.ErrBusy) {
			t.Fatalf("a second Begin while locked: %v", err)
		}
		if _, err := s.Finish(ctx, "telegram", "m1", sender, "tok", flows.Session{Flow: "report", Step: "what"}, true, 1); err != nil {
			t.Fatalf("Finish %s: %v", sender, err)
		}
		if _, err := s.Begin(ctx, "telegram", "m1", sender, "tok2"); !errors.Is(err, storage.ErrDuplicate) {
			t.Fatalf("a replay: %v", err)
		}
		begun, err = s.Begin(ctx, "telegram", "m3", sender, "tok3")
		if err != nil || begun.Session.Flow != "report" {
			t.Fatalf("the saved session: %+v, %v", begun, err)
		}
		if err := s.Release(ctx, sender, "tok3"); err != nil {
			t.Fatal(err)
		}
		if err := s.Forget(ctx, sender); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkThread(ctx, sender); err != nil {
			t.Fatal(err)
		}
		if b, err := s.BeginAt(ctx, "telegram", "m4", sender, "tok4", 7); err != nil || !b.Thread || b.First != 7 {
			t.Fatalf("Begin with a thread and a position: %+v, %v", b, err)
		}
		if _, err := s.PushInbox(ctx, sender, "xin chào"); err != nil {
			t.Fatal(err)
		}
		if msgs, err := s.ReadInbox(ctx, sender, 0); err != nil || len(msgs) != 1 {
			t.Fatalf("inbox = %v, %v", msgs, err)
		}
	}
	for i := range 3 {
		if ok, err := s.Allow(ctx, "lookup:x", 2, time.Minute); err != nil || ok != (i < 2) {
			t.Fatalf("Allow %d = %v, %v", i, ok, err)
		}
	}
	limits := []storage.Limit{{Key: "lookup:a", N: 5, Window: time.Minute}, {Key: "lookup-code:c", N: 5, Window: time.Minute},
		{Key: "lookups:all", N: 5, Window: time.Minute}}
	if got, err := s.AllowEach(ctx, limits); err != nil || got != -1 {
		t.Fatalf("AllowEach = %d, %v", got, err)
	}
	for _, key := range []string{"telegram:bot", "telegram:chat:p1", "sms:chat:p2"} {
		if _, ok, err := s.Reserve(ctx, key, time.Millisecond, time.Second); err != nil || !ok {
			t.Fatalf("Reserve %s: %v, %v", key, ok, err)
		}
		if err := s.Hold(ctx, key, 2*time.Second); err != nil {
			t.Fatalf("Hold %s: %v", key, err)
		}
		if d, err := s.Held(ctx, key); err != nil || d <= 0 {
			t.Fatalf("Held %s = %v, %v", key, d, err)
		}
	}
	// SMS queues (Twilio): each sender's list, lease and set-aside list
	// in its own slot, the set of senders in another.
	held := storage.NewHeld(rdb, prefix)
	for i := range 10 {
		sender := fmt.Sprintf("sms-%d", i)
		if _, err := held.Push(ctx, sender, []byte("m")); err != nil {
			t.Fatalf("Push %s: %v", sender, err)
		}
		head, ok, err := held.Lease(ctx, sender, "tok", time.Minute)
		if err != nil || !ok || string(head) != "m" {
			t.Fatalf("Lease %s = %q %v %v", sender, head, ok, err)
		}
		if next, err := held.Next(ctx, sender, "tok", head, i%2 == 0, time.Minute); err != nil || next != nil {
			t.Fatalf("Next %s = %q %v", sender, next, err)
		}
		if err := held.Unlease(ctx, sender, "tok", true); err != nil {
			t.Fatalf("Unlease %s: %v", sender, err)
		}
	}
	if senders, err := held.Senders(ctx); err != nil || len(senders) != 0 {
		t.Fatalf("senders after every queue emptied = %q, %v", senders, err)
	}
	// Queues on every master are found again from their keys.
	for i := range 10 {
		held.Push(ctx, fmt.Sprintf("sms-%d", i), []byte("m"))
	}
	if n, err := held.Rescan(ctx); err != nil || n != 10 {
		t.Fatalf("Rescan on the cluster = %d, %v; want 10", n, err)
	}
}
