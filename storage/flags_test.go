package storage_test

import (
	"context"
	"errors"
	"testing"

	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// A flagged sender's reports are still in the queue, labelled, below the
// others of the same urgency (an urgent one still above every normal one);
// an expired flag has no effect; setting and clearing are audited.
func TestFlaggedSenderIsQueuedLower(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	commit := func(ref, sender string, urgent bool) int64 {
		t.Helper()
		n := newTip(ref, ref)
		n.SenderPseudonym, n.Report.Urgent = sender, urgent
		c, err := db.CommitTip(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		return c.TipID
	}
	flagged := commit("TB-7K3M-0001", "noisy", false) // oldest
	commit("TB-7K3M-0002", "calm", false)
	flaggedUrgent := commit("TB-7K3M-0003", "noisy", true)
	commit("TB-7K3M-0004", "calm2", true)
	order := func() []string {
		t.Helper()
		items, err := db.Queue(ctx, storage.QueueFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var refs []string
		for _, it := range items {
			label := it.Reference
			if it.Flag.Kind != "" {
				label += " " + it.Flag.Kind
			}
			refs = append(refs, label)
		}
		return refs
	}
	if got := order(); !equal(got, "TB-7K3M-0003", "TB-7K3M-0004", "TB-7K3M-0001", "TB-7K3M-0002") {
		t.Fatalf("before any flag: %q", got)
	}
	if err := db.SetSenderFlag(ctx, flagged, "spam", "hơn 200 tin quảng cáo trong một giờ", "duty", 7); err != nil {
		t.Fatal(err)
	}
	if got := order(); !equal(got, "TB-7K3M-0004", "TB-7K3M-0003 spam", "TB-7K3M-0002", "TB-7K3M-0001 spam") {
		t.Errorf("flagged: %q; want each of the sender's reports below the others of its urgency", got)
	}
	tip, err := db.TipByReference(ctx, "TB-7K3M-0003")
	if err != nil || tip.Flag.Kind != "spam" || tip.Flag.Reason != "hơn 200 tin quảng cáo trong một giờ" || tip.Flag.SetBy != "duty" ||
		tip.Flag.ExpiresAt.IsZero() {
		t.Errorf("report page's flag = %+v, %v", tip.Flag, err)
	}
	// "Take the next one" follows the same order.
	if id, _, err := db.ClaimNext(ctx, "duty"); err != nil || id == flaggedUrgent {
		t.Errorf("next = %d, %v; want the unflagged urgent report", id, err)
	}
	// An expired flag has no effect.
	if _, err := db.Pool().Exec(ctx, `UPDATE sender_flags SET set_at = now() - interval '8 days', expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if got := order(); !equal(got, "TB-7K3M-0003", "TB-7K3M-0004", "TB-7K3M-0001", "TB-7K3M-0002") {
		t.Errorf("expired flag: %q; want the order without it", got)
	}
	if tip, _ := db.TipByReference(ctx, "TB-7K3M-0001"); tip.Flag.Kind != "" {
		t.Errorf("expired flag still shown: %+v", tip.Flag)
	}
	if err := db.ClearSenderFlag(ctx, flagged, "chief"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("clearing an expired flag: %v, want ErrNotFound", err)
	}
	// Set again (replacing the old row), then cleared.
	if err := db.SetSenderFlag(ctx, flaggedUrgent, "abusive", "lời lẽ xúc phạm người trực", "chief", 1); err != nil {
		t.Fatal(err)
	}
	if err := db.ClearSenderFlag(ctx, flagged, "chief"); err != nil {
		t.Fatalf("clear: %v", err)
	}
	if got := order(); len(got) > 0 && got[0] != "TB-7K3M-0003" {
		t.Errorf("cleared: %q", got)
	}
	// Every change is in the audit log, under the report it was made from.
	var actions []string
	rows, _ := db.Pool().Query(ctx, `SELECT actor || ' ' || action || ' ' || (details->>'kind') FROM audit_log
		WHERE action LIKE 'sender.%' ORDER BY id`)
	for rows.Next() {
		var a string
		rows.Scan(&a)
		actions = append(actions, a)
	}
	if !equal(actions, "duty sender.flagged spam", "chief sender.flagged abusive", "chief sender.unflagged abusive") {
		t.Errorf("audit = %q", actions)
	}
	// Nothing but the two kinds, a reason and 1 to 90 days.
	for _, c := range []struct {
		kind, reason string
		days         int
	}{{"nuisance", "x", 1}, {"spam", "", 1}, {"spam", "x", 0}, {"spam", "x", 91}} {
		if err := db.SetSenderFlag(ctx, flagged, c.kind, c.reason, "duty", c.days); err == nil {
			t.Errorf("flag %+v accepted", c)
		}
	}
	if err := db.SetSenderFlag(ctx, 999999, "spam", "x", "duty", 1); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("no such report: %v", err)
	}
}

func equal(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
