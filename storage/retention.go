package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Retention says how long each class of data is kept. Periods of a report's
// data run from when it was closed (resolved, unfounded, duplicate); an open
// report keeps everything.
type Retention struct {
	// Handles: the sealed address to write back to the person.
	Handles time.Duration
	// Reports: the report's contents and media; then it is erased
	// (crypto-shredded) and only its bare row stays.
	Reports time.Duration
	// Delivery: what was sent and its provider IDs; the status stays for
	// the statistics.
	Delivery time.Duration
	// Replies: conversational SMS replies, which can repeat what the person
	// wrote (a summary) and belong to no report.
	Replies time.Duration
	// Audit: who saw or changed what; holds no personal data, kept longest.
	Audit time.Duration
}

// MinAuditRetention is the shortest audit retention the purge accepts (the
// database refuses to delete younger entries).
const MinAuditRetention = 365 * 24 * time.Hour

// PurgeCounts is how much the purge removed (or would), by class.
type PurgeCounts struct {
	Handles, Reports, Delivery, Replies, Audit int64
}

// purgeBatch bounds one run's work per class: the schedule comes back.
const purgeBatch = 1000

var purgeSteps = []struct {
	class string
	sql   string
	count func(*PurgeCounts) *int64
}{
	{"handles", `WITH t AS (
		SELECT id FROM tips WHERE closed_at < now() - make_interval(secs => $1) AND erased_at IS NULL
		AND (follow_up OR EXISTS (SELECT 1 FROM outbox o WHERE o.tip_id = tips.id AND o.recipient_sealed <> '\x'::bytea
			AND o.kind <> 'alert' AND o.status NOT IN ('queued', 'sending')))
		ORDER BY id LIMIT $2
	), f AS (
		UPDATE tips SET follow_up = false WHERE id IN (SELECT id FROM t)
	), o AS (
		UPDATE outbox SET recipient_sealed = '\x'::bytea
		WHERE tip_id IN (SELECT id FROM t) AND kind <> 'alert' AND status NOT IN ('queued', 'sending')
	)
	SELECT count(*) FROM t`, func(c *PurgeCounts) *int64 { return &c.Handles }},
	{"delivery", `WITH o AS (
		UPDATE outbox SET body = '', recipient_sealed = '\x'::bytea, provider_message_id = NULL, last_error = NULL
		WHERE id IN (SELECT id FROM outbox WHERE created_at < now() - make_interval(secs => $1)
			AND status NOT IN ('queued', 'sending') AND (body <> '' OR provider_message_id IS NOT NULL)
			AND kind <> 'reply' ORDER BY id LIMIT $2)
		RETURNING provider_message_id
	), r AS (
		DELETE FROM delivery_receipts WHERE received_at < now() - make_interval(secs => $1)
	), al AS (
		DELETE FROM alarms WHERE settled_at < now() - make_interval(secs => $1)
	), cc AS (
		-- A STOP or START older than a week is not told apart by its time
		-- any more (bot/sms: retriedWithin), so its time is not needed.
		DELETE FROM sms_consent_changes WHERE changed_at < now() - interval '8 days'
	)
	SELECT count(*) FROM o`, func(c *PurgeCounts) *int64 { return &c.Delivery }},
	{"replies", `WITH o AS (
		DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE kind = 'reply'
			AND created_at < now() - make_interval(secs => $1) AND status NOT IN ('queued', 'sending') ORDER BY id LIMIT $2)
		RETURNING id
	)
	SELECT count(*) FROM o`, func(c *PurgeCounts) *int64 { return &c.Replies }},
	{"audit", `WITH a AS (
		DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < now() - make_interval(secs => $1) ORDER BY id LIMIT $2)
		RETURNING id
	)
	SELECT count(*) FROM a`, func(c *PurgeCounts) *int64 { return &c.Audit }},
}

// Purge removes what has outlived its retention, in one transaction: with
// dryRun the transaction is rolled back, so the counts are exactly what a
// real run would remove now. Replicas take turns (an advisory lock); one
// that finds the purge running elsewhere returns zero counts.
func (db *DB) Purge(ctx context.Context, r Retention, dryRun bool) (PurgeCounts, error) {
	var c PurgeCounts
	if r.Audit < MinAuditRetention {
		return c, fmt.Errorf("purge: the audit log is kept at least %v", MinAuditRetention)
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var mine bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(7243001)`).Scan(&mine); err != nil || !mine {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('tinbao.purge', 'on', true)`); err != nil {
			return err
		}
		// Reports first: an erasure clears the handles and messages too.
		ids, err := db.expiredReports(ctx, tx, r.Reports)
		if err != nil {
			return err
		}
		for _, id := range ids {
			var found, erased int
			if err := tx.QueryRow(ctx, sqlEraseTip, id, "system", "retention").Scan(&found, &erased); err != nil {
				return err
			}
			c.Reports += int64(erased)
		}
		periods := map[string]time.Duration{"handles": r.Handles, "delivery": r.Delivery, "replies": r.Replies, "audit": r.Audit}
		for _, s := range purgeSteps {
			if err := tx.QueryRow(ctx, s.sql, periods[s.class].Seconds(), purgeBatch).Scan(s.count(&c)); err != nil {
				return fmt.Errorf("%s: %w", s.class, err)
			}
		}
		if dryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	if err != nil {
		return PurgeCounts{}, fmt.Errorf("purge: %w", err)
	}
	return c, nil
}

var errDryRun = errors.New("dry run: rolled back")

func (db *DB) expiredReports(ctx context.Context, tx pgx.Tx, keep time.Duration) ([]int64, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM tips WHERE closed_at < now() - make_interval(secs => $1) AND erased_at IS NULL
		ORDER BY id LIMIT $2`, keep.Seconds(), purgeBatch)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
