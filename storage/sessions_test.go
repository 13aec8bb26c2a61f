package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"tinbao/flows"
	"tinbao/storage"
	"tinbao/storage/storagetest"
)

func TestSessionsLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	s := storage.NewSessions(rdb, prefix, 30*time.Minute)

	b, err := s.Begin(ctx, "telegram", "100", "alice", "tok1")
	if err != nil || b.Session.Flow != "" || b.Recent != 1 {
		t.Fatalf("first Begin = %+v, %v; want an empty session, the first message", b, err)
	}
	// Another message of the same sender waits for the lock.
	if _, err := s.Begin(ctx, "telegram", "101", "alice", "tok2"); !errors.Is(err, storage.ErrBusy) {
		t.Fatalf("concurrent Begin: %v, want ErrBusy", err)
	}
	// Another sender is not held up.
	if _, err := s.Begin(ctx, "telegram", "102", "bob", "tok3"); err != nil {
		t.Fatalf("other sender: %v", err)
	}
	want := flows.Session{Flow: "report", Step: "where", Lang: "vi", Answers: map[string]string{"what": "bị lừa"}}
	if _, err := s.Finish(ctx, "telegram", "100", "alice", "tok1", want, false, 0); err != nil {
		t.Fatal(err)
	}
	// The handled message is a duplicate from now on.
	if _, err := s.Begin(ctx, "telegram", "100", "alice", "tok4"); !errors.Is(err, storage.ErrDuplicate) {
		t.Fatalf("replayed Begin: %v, want ErrDuplicate", err)
	}
	got, err := s.Begin(ctx, "telegram", "101", "alice", "tok5")
	if err != nil || got.Session.Step != "where" || got.Session.Answers["what"] != "bị lừa" || got.Recent != 2 {
		t.Fatalf("next Begin = %+v, %v", got, err)
	}
	// Release after a failure: the message is not marked handled.
	if err := s.Release(ctx, "alice", "tok5"); err != nil {
		t.Fatal(err)
	}
	// Its retry is counted once in the flood window, not once per try: a
	// message retried through an outage would have its sender capped.
	if b, err := s.Begin(ctx, "telegram", "101", "alice", "tok6"); err != nil || b.Recent != 2 {
		t.Fatalf("Begin after Release = %+v, %v; want the retry counted as the second message", b, err)
	}
	// A session expires after the idle time.
	ttl := rdb.TTL(ctx, s.RecordKey("alice")).Val()
	if ttl <= 29*time.Minute || ttl > 30*time.Minute {
		t.Errorf("session TTL = %s, want about 30m", ttl)
	}
	// Releasing with a stale token does not free someone else's lock.
	if err := s.Release(ctx, "alice", "tok5"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Begin(ctx, "telegram", "103", "alice", "tok7"); !errors.Is(err, storage.ErrBusy) {
		t.Fatalf("stale release freed the lock: %v", err)
	}
}

func TestSessionsNoPersonalDataInKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	s := storage.NewSessions(rdb, prefix, time.Minute)
	if _, err := s.Begin(ctx, "sms", "SM1", "pseudo", "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Finish(ctx, "sms", "SM1", "pseudo", "t", flows.Session{Lang: "vi"}, false, 0); err != nil {
		t.Fatal(err)
	}
	// The conversation is over: its record is parked in its shard's
	// bucket, under a name that says nothing of the sender.
	keys := rdb.Keys(ctx, prefix+"*").Val()
	if len(keys) != 1 || !strings.HasPrefix(keys[0], prefix+"parked:{") || strings.Contains(keys[0], "pseudo") {
		t.Errorf("keys = %v, want only the bucket of the sender's parked record", keys)
	}
}

func TestFinishRefusesWithoutTheLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	s := storage.NewSessions(rdb, prefix, time.Minute)
	s.ShortenLock(50 * time.Millisecond)
	if _, err := s.Begin(ctx, "web", "1", "p", "slow"); err != nil {
		t.Fatal(err)
	}
	// The slow handler's lock runs out; another message takes over and
	// finishes first.
	time.Sleep(60 * time.Millisecond)
	if _, err := s.Begin(ctx, "web", "2", "p", "fast"); err != nil {
		t.Fatal(err)
	}
	newer := flows.Session{Flow: "report", Step: "summary", Lang: "vi"}
	if _, err := s.Finish(ctx, "web", "2", "p", "fast", newer, false, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Finish(ctx, "web", "1", "p", "slow", flows.Session{Lang: "en"}, false, 0); !errors.Is(err, storage.ErrLockLost) {
		t.Fatalf("late Finish: %v, want ErrLockLost", err)
	}
	got, err := s.Begin(ctx, "web", "3", "p", "next")
	if err != nil || got.Session.Step != "summary" || got.Session.Lang != "vi" {
		t.Errorf("session after the late Finish = %+v, %v; want the newer one", got, err)
	}
	// The late message is not marked handled: its retry runs again.
	if _, err := s.Begin(ctx, "web", "1", "p", "retry"); errors.Is(err, storage.ErrDuplicate) {
		t.Error("a message whose Finish failed was marked handled")
	}
}

// The web chat's inbox forgets a message only once the page says it showed
// it: an answer lost on a weak connection comes again.
func TestInboxForgetsOnlyWhatWasShown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	s := storage.NewSessions(rdb, prefix, time.Minute)
	s.PushInbox(ctx, "p", "mã số TB-7K3M-Q9XJ")
	for range 2 { // the first answer was lost
		if got, _ := s.ReadInbox(ctx, "p", 0); len(got) != 1 {
			t.Fatalf("ReadInbox(0) = %q, want the message again", got)
		}
	}
	s.PushInbox(ctx, "p", "tin thứ hai")
	got, _ := s.ReadInbox(ctx, "p", 1)
	if len(got) != 1 || got[0] != "tin thứ hai" {
		t.Fatalf("after showing one: %q", got)
	}
	if got, _ := s.TakeInbox(ctx, "p"); len(got) != 1 {
		t.Fatalf("TakeInbox = %q", got)
	}
	if got, _ := s.ReadInbox(ctx, "p", 0); len(got) != 0 {
		t.Errorf("after TakeInbox: %q", got)
	}
}

// AllowEach stops at the first limit that refuses: what one client is refused
// uses up nothing of the counters after it, which everyone shares.
func TestAllowEachStopsAtTheFirstRefusal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	s := storage.NewSessions(rdb, prefix, 30*time.Minute)
	limits := func(who string) []storage.Limit {
		return []storage.Limit{{Key: "who:" + who, N: 2, Window: time.Minute}, {Key: "all", N: 3, Window: time.Minute}}
	}
	for i, want := range []int{-1, -1, 0, 0} {
		if got, err := s.AllowEach(ctx, limits("a")); err != nil || got != want {
			t.Fatalf("a's event %d: %d, %v; want %d", i+1, got, err, want)
		}
	}
	// a's refused events did not count against "all": b gets one more.
	if got, err := s.AllowEach(ctx, limits("b")); err != nil || got != -1 {
		t.Fatalf("b's first event: %d, %v; want allowed", got, err)
	}
	if got, _ := s.AllowEach(ctx, limits("b")); got != 1 {
		t.Fatalf("b's second event: %d; want refused by the shared limit (1)", got)
	}
	for _, key := range []string{"who:a", "who:b", "all"} {
		if ttl := rdb.PTTL(ctx, prefix+"rate:{limits}:"+key).Val(); ttl <= 0 || ttl > time.Minute {
			t.Errorf("%s: TTL %s, want within the window", key, ttl)
		}
	}
}

// Begin counts a sender's messages in the flood window and reads the
// channel's answered turns this second, in the same round trip; a message
// waiting for the lock, or a replay, is not counted.
func TestBeginCountsAFlood(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	s := storage.NewSessions(rdb, prefix, time.Minute)
	for i := range 5 {
		id := fmt.Sprint(i)
		b, err := s.Begin(ctx, "telegram", id, "flooder", "t"+id)
		if err != nil || b.Recent != i+1 {
			t.Fatalf("message %d: %+v, %v; want counted %d", i, b, err, i+1)
		}
		if _, err := s.Begin(ctx, "telegram", id+"b", "flooder", "other"); !errors.Is(err, storage.ErrBusy) {
			t.Fatalf("while locked: %v", err)
		}
		if _, err := s.Finish(ctx, "telegram", id, "flooder", "t"+id, flows.Session{}, true, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Each message ended the conversation (an empty session): the count
	// survived its record's parking, and so do the last IDs.
	if _, err := s.Begin(ctx, "telegram", "1", "flooder", "replay"); !errors.Is(err, storage.ErrDuplicate) {
		t.Fatalf("replay: %v", err)
	}
	b, err := s.Begin(ctx, "telegram", "x", "someone-else", "t")
	if err != nil || b.Recent != 1 {
		t.Fatalf("another sender = %+v, %v; want a window of their own", b, err)
	}
	if b.Turns < 1 || b.Turns > 5 { // the second may have turned meanwhile
		t.Errorf("turns answered on the channel = %d, want the flooder's 5 (or those of this second)", b.Turns)
	}
	// Redis forgot the script (a restart): the pipeline sends its text.
	rdb.ScriptFlush(ctx)
	if b, err := s.Begin(ctx, "sms", "y", "third", "t"); err != nil || b.Recent != 1 {
		t.Fatalf("after SCRIPT FLUSH: %+v, %v", b, err)
	}
}

// After Redis forgets its scripts, Finish sends again only the scripts
// that did not run: the session is saved once (a second run would find the
// lock gone and report it lost), the turn counted once, the replies spent
// once.
func TestFinishAfterScriptFlushRunsEachPartOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	s := storage.NewSessions(rdb, prefix, time.Minute)
	s.SpendRepliesOn("telegram", 100*time.Millisecond)
	for _, known := range []string{"none", "session scripts"} {
		if _, err := s.Begin(ctx, "telegram", "1", "alice", "tok"); err != nil {
			t.Fatal(err)
		}
		rdb.ScriptFlush(ctx)
		if known == "session scripts" {
			// Redis learns Begin's and Finish's scripts from another
			// sender, not the budget's: only that one misses.
			if _, err := s.Begin(ctx, "telegram", "1", "bob", "t"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Finish(ctx, "telegram", "1", "bob", "t", flows.Session{}, false, 0); err != nil {
				t.Fatal(err)
			}
		}
		sess := flows.Session{Flow: "report", Step: "where"}
		if _, err := s.Finish(ctx, "telegram", "1", "alice", "tok", sess, true, 2); err != nil {
			t.Fatalf("%s known: Finish = %v", known, err)
		}
		if b, err := s.Begin(ctx, "telegram", "2", "alice", "tok2"); err != nil || b.Session.Step != "where" {
			t.Fatalf("%s known: the session after Finish = %+v, %v", known, b, err)
		}
		turns := 0
		for _, k := range rdb.Keys(ctx, prefix+"turns:{telegram}:*").Val() {
			n, _ := rdb.Get(ctx, k).Int()
			turns += n
		}
		if turns != 1 {
			t.Errorf("%s known: turns counted = %d, want 1", known, turns)
		}
		// Two replies at one per 100 ms put the budget 200 ms ahead (its
		// key lives that long + 1 s); spent twice, 400 ms.
		if ttl := rdb.PTTL(ctx, prefix+"pace:{telegram}").Val(); ttl < 1100*time.Millisecond || ttl > 1200*time.Millisecond {
			t.Errorf("%s known: the budget's key lives %s, want 1.1–1.2 s (two replies spent once)", known, ttl)
		}
		if err := s.Release(ctx, "alice", "tok2"); err != nil {
			t.Fatal(err)
		}
		rdb.Del(ctx, s.RecordKey("alice"), prefix+"pace:{telegram}", prefix+"replies:{telegram}")
		for _, k := range rdb.Keys(ctx, prefix+"turns:{telegram}:*").Val() {
			rdb.Del(ctx, k)
		}
	}
}

// One record per sender keeps the last Dedupe message IDs, the range of chat
// positions for a wipe, and reads the officer's mark in the same round trip.
func TestBeginKeepsRangeDedupeAndThreadMark(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	s := storage.NewSessions(rdb, prefix, time.Minute)
	live := flows.Session{Lang: "vi", Flow: "report", Step: "what"} // a report under way
	for i, pos := range []int64{40, 41, 39, 0, 45} {
		id := fmt.Sprint(1000 + i)
		b, err := s.BeginAt(ctx, "telegram", id, "p", "t"+id, pos)
		if err != nil || b.Thread {
			t.Fatalf("message %d: %+v, %v", i, b, err)
		}
		if _, err := s.Finish(ctx, "telegram", id, "p", "t"+id, live, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.MarkThread(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	b, err := s.BeginAt(ctx, "telegram", "web-1", "p", "x", 46)
	if err != nil || b.First != 39 || b.Last != 46 || !b.Thread || b.Session.Step != "what" {
		t.Fatalf("Begin = %+v, %v; want range 39–46, the mark and the session", b, err)
	}
	if _, err := s.Finish(ctx, "telegram", "web-1", "p", "x", live, false, 0); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"1000", "1004", "web-1"} {
		if _, err := s.Begin(ctx, "telegram", id, "p", "r"); !errors.Is(err, storage.ErrDuplicate) {
			t.Errorf("replay of %s: %v, want ErrDuplicate", id, err)
		}
	}
	// Only the last Dedupe IDs are kept: a provider replays soon or never.
	for i := range storage.Dedupe {
		id := fmt.Sprint(2000 + i)
		if _, err := s.Begin(ctx, "telegram", id, "p", "t"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Finish(ctx, "telegram", id, "p", "t", live, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Begin(ctx, "telegram", "2000", "p", "r"); !errors.Is(err, storage.ErrDuplicate) {
		t.Errorf("replay of the oldest kept: %v", err)
	}
	b, err = s.Begin(ctx, "telegram", "1000", "p", "r")
	if err != nil {
		t.Fatalf("an ID older than the last %d: %v, want it taken as new", storage.Dedupe, err)
	}

	// The report ends: the record is parked with its last ParkedDedupe IDs,
	// its range and what outlives the report, and comes back whole.
	if _, err := s.Finish(ctx, "telegram", "1000", "p", "r", flows.Session{Lang: "en"}, false, 0); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, s.RecordKey("p")).Val(); n != 0 {
		t.Fatalf("the record of an ended conversation is still a key")
	}
	for i := range storage.ParkedDedupe {
		id := fmt.Sprint(2000 + storage.Dedupe - storage.ParkedDedupe + 1 + i)
		if i == storage.ParkedDedupe-1 {
			id = "1000"
		}
		if _, err := s.Begin(ctx, "telegram", id, "p", "r"); !errors.Is(err, storage.ErrDuplicate) {
			t.Errorf("parked: replay of %s: %v, want ErrDuplicate", id, err)
		}
	}
	b, err = s.BeginAt(ctx, "telegram", fmt.Sprint(2000+storage.Dedupe-storage.ParkedDedupe), "p", "r", 47)
	if err != nil || b.Session.Lang != "en" || b.Session.Flow != "" || b.First != 39 || b.Last != 47 {
		t.Fatalf("back from parking: %+v, %v; want it taken as new, the language, range 39–47", b, err)
	}
}

// Parked records share a few hash keys instead of a key each, survive
// their TTL, and no longer than two.
func TestParkedRecordsShareBuckets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	s := storage.NewSessions(rdb, prefix, time.Hour)
	const senders = 3000
	for i := range senders {
		who := fmt.Sprintf("%032x", i)
		if _, err := s.Begin(ctx, "web", "web-1", who, "t"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Finish(ctx, "web", "web-1", who, "t", flows.Session{Lang: "vi", Touched: 1796000000}, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	keys := rdb.Keys(ctx, prefix+"*").Val()
	if len(keys) > 1024 {
		t.Fatalf("%d keys for %d parked records, want at most one per shard", len(keys), senders)
	}
	for _, k := range keys[:5] {
		if enc := rdb.ObjectEncoding(ctx, k).Val(); enc != "listpack" {
			t.Errorf("%s is a %s, want a compact listpack", k, enc)
		}
		if ttl := rdb.TTL(ctx, k).Val(); ttl < time.Hour || ttl > 2*time.Hour {
			t.Errorf("%s lives %s, want between one and two periods", k, ttl)
		}
	}
	// A web ID is kept by its digest: the replay is still caught.
	if _, err := s.Begin(ctx, "web", "web-1", fmt.Sprintf("%032x", 7), "r"); !errors.Is(err, storage.ErrDuplicate) {
		t.Errorf("replay of a parked web message: %v", err)
	}
	if b, err := s.Begin(ctx, "web", "web-2", fmt.Sprintf("%032x", 7), "r"); err != nil || b.Session.Lang != "vi" {
		t.Errorf("next message: %+v, %v", b, err)
	}
	// Thoát nhanh on a parked record forgets its session, not its IDs.
	other := fmt.Sprintf("%032x", 8)
	if err := s.Forget(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Begin(ctx, "web", "web-1", other, "r"); !errors.Is(err, storage.ErrDuplicate) {
		t.Errorf("replay after a quick exit: %v", err)
	}
	if b, err := s.Begin(ctx, "web", "web-2", other, "r"); err != nil || b.Session.Lang != "" {
		t.Errorf("after a quick exit: %+v, %v; want no session", b, err)
	}
}
