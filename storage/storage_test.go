package storage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tinbao/flows"
	"tinbao/storage"
	"tinbao/storage/storagetest"
)

func newTip(ref, sourceID string) storage.NewTip {
	return storage.NewTip{
		Report: flows.Report{
			Kind: flows.KindTip, Reference: flows.Reference(ref), Lang: "vi",
			Details: map[string]string{"what": "Có người bị lừa sang Campuchia"},
			Ack:     "Cảm ơn bạn. Mã số: " + ref,
		},
		Channel:         "telegram",
		SenderPseudonym: "pseudo1",
		SourceMessageID: sourceID,
		Handle:          "1",
	}
}

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	t.Parallel()
	db := storagetest.DB(t) // already migrated once
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			applied, err := db.Migrate(context.Background())
			if err == nil && len(applied) != 0 {
				err = fmt.Errorf("applied %v again", applied)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if err := db.CheckMigrated(context.Background()); err != nil {
		t.Errorf("CheckMigrated: %v", err)
	}
}

func TestCheckMigratedOnEmptyDatabase(t *testing.T) {
	t.Parallel()
	db := storagetest.EmptyDB(t)
	if err := db.CheckMigrated(context.Background()); !errors.Is(err, storage.ErrNotMigrated) {
		t.Fatalf("CheckMigrated on an empty schema = %v, want ErrNotMigrated", err)
	}
}

func TestCommitTipWritesTipAckAndAudit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	n := newTip("TB-7K3M-Q9XJ", "1001")
	n.Report.Media = []flows.Media{{Kind: "photo", FileID: "AgACAgUAAxkBAAI", Mime: "image/jpeg", Size: 52011}}
	c, err := db.CommitTip(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	// What the person wrote and sent is sealed: no clear column holds it.
	var clear string
	if err := db.Pool().QueryRow(ctx, `SELECT t::text FROM tips t WHERE id = $1`, c.TipID).Scan(&clear); err != nil ||
		strings.Contains(clear, "Campuchia") || strings.Contains(clear, "AgACAgUAAxkBAAI") {
		t.Errorf("tips row in clear = %s, %v", clear, err)
	}
	tip, err := db.TipByReference(ctx, "TB-7K3M-Q9XJ")
	if err != nil {
		t.Fatal(err)
	}
	if len(tip.Media) != 1 || tip.Media[0] != n.Report.Media[0] {
		t.Errorf("media = %+v", tip.Media)
	}
	if tip.ID != c.TipID || tip.Status != "new" || tip.Urgency != "normal" || tip.Channel != "telegram" || tip.Kind != "tip" {
		t.Errorf("tip = %+v", tip)
	}
	if tip.Details["what"] != "Có người bị lừa sang Campuchia" {
		t.Errorf("details = %v", tip.Details)
	}
	msgs, err := db.OutboxForTip(ctx, c.TipID)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Kind != "ack" || msgs[0].Status != "queued" || msgs[0].Body != "Cảm ơn bạn. Mã số: TB-7K3M-Q9XJ" {
		t.Errorf("outbox = %+v", msgs)
	}
	var audits int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE tip_id = $1 AND action = 'tip.created'`, c.TipID).Scan(&audits); err != nil || audits != 1 {
		t.Errorf("audit rows = %d, %v", audits, err)
	}
}

func TestCommitTipIsIdempotentOnSourceMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	if _, err := db.CommitTip(ctx, newTip("TB-7K3M-Q9XJ", "1001")); err != nil {
		t.Fatal(err)
	}
	// The same message again, even with a new code: nothing new.
	if _, err := db.CommitTip(ctx, newTip("TB-0000-0000", "1001")); !errors.Is(err, storage.ErrDuplicate) {
		t.Fatalf("replay: err = %v, want ErrDuplicate", err)
	}
	// A new message with a taken code: the caller draws another.
	if _, err := db.CommitTip(ctx, newTip("TB-7K3M-Q9XJ", "1002")); !errors.Is(err, storage.ErrReferenceTaken) {
		t.Fatalf("taken code: err = %v, want ErrReferenceTaken", err)
	}
	var tips, acks int
	db.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM tips), (SELECT count(*) FROM outbox)`).Scan(&tips, &acks)
	if tips != 1 || acks != 1 {
		t.Errorf("tips = %d, outbox = %d; want 1 and 1", tips, acks)
	}
}

func TestClaimOutboxNeverTwiceAndReclaimsExpiredLeases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	for i := range 20 {
		tip := newTip(string(flows.NewReference([]byte{byte(i), 1, 2, 3, 4, 5, byte(i >> 5)})), fmt.Sprint(i))
		tip.SenderPseudonym = fmt.Sprint("pseudo-", i) // twenty people: one's own go one at a time
		if _, err := db.CommitTip(ctx, tip); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				msgs, err := db.ClaimOutbox(ctx, 3, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(msgs) == 0 {
					return
				}
				mu.Lock()
				for _, m := range msgs {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 20 {
		t.Errorf("claimed %d distinct messages, want 20", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("message %d claimed %d times", id, n)
		}
	}
	// A lease that ran out (the sender died) is claimed again.
	if _, err := db.Pool().Exec(ctx, `UPDATE outbox SET lease_until = now() - interval '1 second' WHERE id = (SELECT min(id) FROM outbox)`); err != nil {
		t.Fatal(err)
	}
	again, err := db.ClaimOutbox(ctx, 10, time.Minute)
	if err != nil || len(again) != 1 || again[0].Attempts != 2 {
		t.Fatalf("reclaim = %+v, %v; want one message on its second attempt", again, err)
	}
	if err := db.MarkSent(ctx, again[0].ID, again[0].Attempts, "1234"); err != nil {
		t.Fatal(err)
	}
	msgs, _ := db.OutboxForTip(ctx, again[0].TipID)
	if msgs[0].Status != "sent" || msgs[0].ProviderMessageID != "1234" {
		t.Errorf("after MarkSent: %+v", msgs[0])
	}
}

func TestOpenTipsOrdersUrgentFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	normal := newTip("TB-7K3M-Q9XJ", "1")
	urgent := newTip("TB-0000-0000", "2")
	urgent.Report.Urgent = true
	for _, n := range []storage.NewTip{normal, urgent} {
		if _, err := db.CommitTip(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	tips, err := db.OpenTips(ctx, 10)
	if err != nil || len(tips) != 2 || tips[0].Reference != "TB-0000-0000" || tips[0].Urgency != "urgent" {
		t.Fatalf("OpenTips = %+v, %v", tips, err)
	}
}

func TestOfficerPasswords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	if _, err := db.AddOfficer(ctx, "demo", "supervisor", "", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddOfficer(ctx, "demo", "officer", "", "another password!"); !errors.Is(err, storage.ErrOfficerExists) {
		t.Errorf("second add: %v, want ErrOfficerExists", err)
	}
	var hash string
	db.Pool().QueryRow(ctx, `SELECT password_hash FROM officers WHERE username = 'demo'`).Scan(&hash)
	if !storage.CheckPassword(hash, "a long enough password") || storage.CheckPassword(hash, "a long enough passworD") {
		t.Error("password check is wrong")
	}
}

// A person gets their messages in the order they were queued: the next one
// to a recipient is claimed only once the one before it is sent (or has
// failed for good), whatever other messages wait; others' messages are not
// held up.
func TestClaimOutboxKeepsEachRecipientsOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	queue := func(pseudonym, body string) int64 {
		id, err := db.QueueReply(ctx, "sms", pseudonym, []byte("sealed"), "vi", body)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	a1, a2, a3 := queue("alice", "1"), queue("alice", "2"), queue("alice", "3")
	b1 := queue("bob", "1")
	claim := func() []int64 {
		msgs, err := db.ClaimOutbox(ctx, 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, m := range msgs {
			ids = append(ids, m.ID)
		}
		slices.Sort(ids)
		return ids
	}
	if got := claim(); !slices.Equal(got, []int64{a1, b1}) {
		t.Fatalf("first claim = %v, want alice's first and bob's (%d, %d)", got, a1, b1)
	}
	if got := claim(); len(got) != 0 {
		t.Fatalf("while alice's first is being sent, claimed %v", got)
	}
	// Retried later: it stays first, and the second waits for it.
	if err := db.MarkRetry(ctx, a1, 1, time.Now().Add(-time.Second), "provider error"); err != nil {
		t.Fatal(err)
	}
	if got := claim(); !slices.Equal(got, []int64{a1}) {
		t.Fatalf("after a retry = %v, want alice's first again", got)
	}
	if err := db.MarkSent(ctx, a1, 2, "p1"); err != nil {
		t.Fatal(err)
	}
	if got := claim(); !slices.Equal(got, []int64{a2}) {
		t.Fatalf("after the first was sent = %v, want alice's second (%d)", got, a2)
	}
	if err := db.MarkFailed(ctx, a2, 1, "undeliverable", "bad number"); err != nil {
		t.Fatal(err)
	}
	if got := claim(); !slices.Equal(got, []int64{a3}) {
		t.Fatalf("after the second failed for good = %v, want the third (%d)", got, a3)
	}
	// One waiting out a long retry (its provider down for minutes) does not
	// hold back what follows: a new alert, the emergency numbers.
	c1, c2 := queue("carol", "1"), queue("carol", "2")
	if got := claim(); !slices.Equal(got, []int64{c1}) {
		t.Fatalf("carol's first claim = %v, want %d", got, c1)
	}
	if err := db.MarkRetry(ctx, c1, 1, time.Now().Add(10*time.Minute), "provider down"); err != nil {
		t.Fatal(err)
	}
	if got := claim(); !slices.Equal(got, []int64{c2}) {
		t.Fatalf("behind a retry in 10 minutes = %v, want carol's second (%d)", got, c2)
	}
}
