package storage_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// A sender's queue: one lease at a time, messages leave from the head in
// order and only under the lease, what is set aside is kept, and the sender
// leaves the set only with nothing queued.
func TestHeldQueueUnderOneLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	h := storage.NewHeld(rdb, prefix)
	for i, m := range []string{"a", "b", "c"} {
		if n, err := h.Push(ctx, "s1", []byte(m)); err != nil || n != int64(i+1) {
			t.Fatalf("Push %s = %d, %v", m, n, err)
		}
	}
	if senders, _ := h.Senders(ctx); !slices.Equal(senders, []string{"s1"}) {
		t.Errorf("senders = %q", senders)
	}
	head, ok, err := h.Lease(ctx, "s1", "r1", time.Minute)
	if err != nil || !ok || string(head) != "a" {
		t.Fatalf("Lease = %q %v %v, want a", head, ok, err)
	}
	// A second replica, or request, leaves the queue to the first.
	if _, ok, err := h.Lease(ctx, "s1", "r2", time.Minute); err != nil || ok {
		t.Fatalf("second Lease = %v %v, want refused", ok, err)
	}
	if _, err := h.Next(ctx, "s1", "r2", head, false, time.Minute); !errors.Is(err, storage.ErrLeaseLost) {
		t.Fatalf("Next without the lease: %v, want ErrLeaseLost", err)
	}
	head, err = h.Next(ctx, "s1", "r1", head, false, time.Minute)
	if err != nil || string(head) != "b" {
		t.Fatalf("Next = %q %v, want b", head, err)
	}
	// "b" set aside: out of the queue, kept.
	head, err = h.Next(ctx, "s1", "r1", head, true, time.Minute)
	if err != nil || string(head) != "c" {
		t.Fatalf("Next after setting b aside = %q %v, want c", head, err)
	}
	// A stale head (already removed) removes nothing.
	if again, err := h.Next(ctx, "s1", "r1", []byte("a"), false, time.Minute); err != nil || string(again) != "c" {
		t.Fatalf("Next with a stale head = %q %v, want c still", again, err)
	}
	if aside, _ := h.SetAside(ctx, "s1"); len(aside) != 1 || string(aside[0]) != "b" {
		t.Errorf("set aside = %q, want b", aside)
	}
	// Stopped at "c": the lease is freed, the sender stays named.
	if err := h.Unlease(ctx, "s1", "r1", false); err != nil {
		t.Fatal(err)
	}
	if senders, _ := h.Senders(ctx); !slices.Equal(senders, []string{"s1"}) {
		t.Errorf("senders with c left = %q", senders)
	}
	head, ok, _ = h.Lease(ctx, "s1", "r2", time.Minute)
	if !ok || string(head) != "c" {
		t.Fatalf("Lease after Unlease = %q %v, want c", head, ok)
	}
	if head, err = h.Next(ctx, "s1", "r2", head, false, time.Minute); err != nil || head != nil {
		t.Fatalf("Next after the last = %q %v, want empty", head, err)
	}
	if err := h.Unlease(ctx, "s1", "r2", true); err != nil {
		t.Fatal(err)
	}
	if senders, _ := h.Senders(ctx); len(senders) != 0 {
		t.Errorf("senders after the last = %q", senders)
	}
	// Pushed again after leaving: named again, and the lease is free.
	h.Push(ctx, "s1", []byte("d"))
	if senders, _ := h.Senders(ctx); !slices.Equal(senders, []string{"s1"}) {
		t.Errorf("senders after a new push = %q", senders)
	}
	if head, ok, _ := h.Lease(ctx, "s1", "r3", time.Minute); !ok || string(head) != "d" {
		t.Fatalf("Lease for d = %q %v", head, ok)
	}
}

// A lease runs out (its holder died): another takes the queue over, and
// the old holder can no longer remove anything.
func TestHeldLeaseRunsOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	h := storage.NewHeld(rdb, prefix)
	h.Push(ctx, "s2", []byte("a"))
	if _, ok, _ := h.Lease(ctx, "s2", "dead", 50*time.Millisecond); !ok {
		t.Fatal("first lease refused")
	}
	time.Sleep(100 * time.Millisecond)
	head, ok, err := h.Lease(ctx, "s2", "alive", time.Minute)
	if err != nil || !ok || string(head) != "a" {
		t.Fatalf("Lease after the first ran out = %q %v %v", head, ok, err)
	}
	if _, err := h.Next(ctx, "s2", "dead", head, false, time.Minute); !errors.Is(err, storage.ErrLeaseLost) {
		t.Fatalf("the dead holder's Next: %v, want ErrLeaseLost", err)
	}
	if q, _ := h.Queued(ctx, "s2"); len(q) != 1 {
		t.Errorf("queue = %q, want a still there", q)
	}
}

// A queue whose sender the set lost (Redis went away between a push and its
// naming) is found again from its key.
func TestHeldRescanFindsALostQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	h := storage.NewHeld(rdb, prefix)
	h.Push(ctx, "lost", []byte("a"))
	rdb.Del(ctx, prefix+"held-senders")
	if senders, _ := h.Senders(ctx); len(senders) != 0 {
		t.Fatalf("senders = %q", senders)
	}
	if n, err := h.Rescan(ctx); err != nil || n != 1 {
		t.Fatalf("Rescan = %d, %v; want the one queue", n, err)
	}
	if senders, _ := h.Senders(ctx); !slices.Equal(senders, []string{"lost"}) {
		t.Errorf("senders after Rescan = %q", senders)
	}
}

// A key prefix with glob characters finds its own queues, and not another
// deployment's on the same Redis.
func TestHeldRescanEscapesThePrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	mine := storage.NewHeld(rdb, prefix+"[ab]:")
	other := storage.NewHeld(rdb, prefix+"a:")
	mine.Push(ctx, "s1", []byte("m"))
	other.Push(ctx, "s2", []byte("m"))
	rdb.Del(ctx, prefix+"[ab]:held-senders")
	if n, err := mine.Rescan(ctx); err != nil || n != 1 {
		t.Fatalf("Rescan = %d, %v; want its own one queue", n, err)
	}
	if senders, _ := mine.Senders(ctx); !slices.Equal(senders, []string{"s1"}) {
		t.Errorf("senders = %q, want s1 only", senders)
	}
}
