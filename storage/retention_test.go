package storage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tinbao/storage"
	"tinbao/storage/storagetest"
)

var testRetention = storage.Retention{
	Handles: 30 * 24 * time.Hour, Reports: 730 * 24 * time.Hour, Delivery: 90 * 24 * time.Hour,
	Replies: 48 * time.Hour, Audit: 1825 * 24 * time.Hour,
}

// TestPurgeByDataClass ages data of every class, checks that a dry run
// counts exactly what the real run then removes and changes nothing itself,
// and that nothing younger than its period is touched.
func TestPurgeByDataClass(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Pool().Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	commit := func(ref, src string, followUp bool) int64 {
		t.Helper()
		n := newTip(ref, src)
		n.Report.Details["what"] = story
		n.Report.FollowUp = followUp
		n.Handle = "84900000" + src
		c, err := db.CommitTip(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		exec(`UPDATE outbox SET status = 'sending' WHERE tip_id = $1`, c.TipID)
		exec(`UPDATE outbox SET status = 'delivered', provider_message_id = 'SM' || $2 WHERE tip_id = $1`, c.TipID, src)
		return c.TipID
	}
	old := commit("TB-7K3M-Q9XJ", "1", true)    // closed 800 days ago: erased
	closed := commit("TB-0000-0000", "2", true) // closed 40 days ago: handle gone, story kept
	open := commit("TB-ABCD-EFGG", "3", true)   // open and old: untouched
	for _, id := range []int64{old, closed} {
		if _, err := db.ChangeTipStatus(ctx, id, "resolved", "officer1", ""); err != nil {
			t.Fatal(err)
		}
	}
	exec(`UPDATE tips SET closed_at = now() - interval '800 days', created_at = now() - interval '900 days' WHERE id = $1`, old)
	exec(`UPDATE tips SET closed_at = now() - interval '40 days' WHERE id = $1`, closed)
	exec(`UPDATE tips SET created_at = now() - interval '900 days' WHERE id = $1`, open)
	exec(`UPDATE outbox SET created_at = now() - interval '100 days' WHERE tip_id = $1`, open)
	// Conversational replies: one old, one fresh.
	for _, age := range []string{"3 days", "1 hour"} {
		exec(`INSERT INTO outbox (kind, channel, recipient_pseudonym, recipient_sealed, body, status, created_at)
			VALUES ('reply', 'sms', 'p', '\x01', 'Tóm tắt: ' || $1, 'delivered', now() - $1::interval)`, age)
	}
	// When numbers last changed their STOP or START: one a month ago, one today.
	exec(`INSERT INTO sms_consent_changes (pseudonym, changed_at) VALUES ('p-old', now() - interval '30 days'), ('p-new', now())`)
	exec(`INSERT INTO audit_log (actor, action, at) VALUES ('officer1', 'tip.viewed', now() - interval '2000 days'),
		('officer1', 'tip.viewed', now() - interval '400 days')`)

	dry, err := db.Purge(ctx, testRetention, true)
	if err != nil {
		t.Fatal(err)
	}
	want := storage.PurgeCounts{Reports: 1, Handles: 1, Delivery: 1, Replies: 1, Audit: 1}
	if dry != want {
		t.Fatalf("dry run = %+v, want %+v", dry, want)
	}
	if tip, err := db.TipByReference(ctx, "TB-7K3M-Q9XJ"); err != nil || tip.Erased {
		t.Fatalf("the dry run changed something: %+v, %v", tip, err)
	}
	got, err := db.Purge(ctx, testRetention, false)
	if err != nil || got != want {
		t.Fatalf("purge = %+v, %v; want %+v (what the dry run said)", got, err, want)
	}
	if again, _ := db.Purge(ctx, testRetention, false); again != (storage.PurgeCounts{}) {
		t.Errorf("a second purge removed %+v", again)
	}

	if tip, _ := db.TipByReference(ctx, "TB-7K3M-Q9XJ"); !tip.Erased || tip.Details["what"] != "" {
		t.Errorf("the report closed 800 days ago = %+v", tip)
	}
	tip, _ := db.TipByReference(ctx, "TB-0000-0000")
	if tip.Erased || tip.Details["what"] != story || tip.FollowUp {
		t.Errorf("the report closed 40 days ago = %+v, want its story and no follow-up", tip)
	}
	msgs, _ := db.OutboxForTip(ctx, closed)
	if len(msgs) != 1 || len(msgs[0].RecipientSealed) != 0 {
		t.Errorf("its handle is still there: %+v", msgs)
	}
	if tip, _ := db.TipByReference(ctx, "TB-ABCD-EFGG"); tip.Details["what"] != story || !tip.FollowUp {
		t.Errorf("the open report was touched: %+v", tip)
	}
	msgs, _ = db.OutboxForTip(ctx, open)
	if len(msgs) != 1 || msgs[0].Body != "" || msgs[0].Status != "delivered" {
		t.Errorf("the open report's 100-day-old acknowledgement = %+v: want its body gone, its status kept", msgs)
	}
	var replies, audits int
	db.Pool().QueryRow(ctx, `SELECT count(*) FROM outbox WHERE kind = 'reply'`).Scan(&replies)
	db.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE at < now() - interval '365 days'`).Scan(&audits)
	if replies != 1 || audits != 1 {
		t.Errorf("left %d replies and %d old audit entries, want 1 and 1", replies, audits)
	}
	var consent string
	db.Pool().QueryRow(ctx, `SELECT string_agg(pseudonym, ',') FROM sms_consent_changes`).Scan(&consent)
	if consent != "p-new" {
		t.Errorf("consent changes left: %q, want only today's", consent)
	}
}

// TestAuditLogStaysAppendOnly: only the purge may delete, only entries older
// than a year, and nobody may change one.
func TestAuditLogStaysAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	if _, err := db.Pool().Exec(ctx, `INSERT INTO audit_log (actor, action, at) VALUES ('a', 'x', now() - interval '2000 days'),
		('a', 'y', now() - interval '10 days')`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		purging bool
		sql     string
	}{
		{false, `DELETE FROM audit_log`},
		{false, `UPDATE audit_log SET actor = 'b'`},
		{true, `DELETE FROM audit_log WHERE action = 'y'`},
		{true, `UPDATE audit_log SET actor = 'b' WHERE action = 'x'`},
	} {
		err := pgx.BeginFunc(ctx, db.Pool(), func(tx pgx.Tx) error {
			if c.purging {
				if _, err := tx.Exec(ctx, `SELECT set_config('tinbao.purge', 'on', true)`); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, c.sql)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s (purging: %v): %v, want refused", c.sql, c.purging, err)
		}
	}
	if _, err := db.Purge(ctx, storage.Retention{Audit: 30 * 24 * time.Hour}, false); err == nil {
		t.Error("the purge accepted an audit retention of 30 days")
	}
}
