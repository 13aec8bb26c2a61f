package storage_test

import (
	"context"
	"slices"
	"testing"

	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// Held messages come back in order, each removed once however many
// replicas finish it, and a sender leaves the set only with nothing held.
func TestHeldInOrderOnce(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	h := storage.NewHeld(rdb, prefix)
	if holding, err := h.Holding(ctx, "s1"); err != nil || holding {
		t.Fatalf("holding before = %v %v", holding, err)
	}
	for _, m := range []string{"a", "b"} {
		if err := h.Hold(ctx, "s1", []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if senders, _ := h.Senders(ctx); !slices.Equal(senders, []string{"s1"}) {
		t.Errorf("senders = %q", senders)
	}
	first, _ := h.Oldest(ctx, "s1")
	if string(first) != "a" {
		t.Fatalf("oldest = %q, want a", first)
	}
	// Two replicas finish "a": "b" stays.
	for range 2 {
		if err := h.Done(ctx, "s1", first); err != nil {
			t.Fatal(err)
		}
	}
	if next, _ := h.Oldest(ctx, "s1"); string(next) != "b" {
		t.Fatalf("after a, oldest = %q, want b", next)
	}
	if err := h.Done(ctx, "s1", []byte("b")); err != nil {
		t.Fatal(err)
	}
	if holding, _ := h.Holding(ctx, "s1"); holding {
		t.Error("still holding after the last")
	}
	if senders, _ := h.Senders(ctx); len(senders) != 0 {
		t.Errorf("senders after the last = %q", senders)
	}
	// Held again after leaving: named again.
	h.Hold(ctx, "s1", []byte("c"))
	if senders, _ := h.Senders(ctx); !slices.Equal(senders, []string{"s1"}) {
		t.Errorf("senders after holding again = %q", senders)
	}
}
