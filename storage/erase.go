package storage

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// sqlEraseTip destroys a report's data key and clears every copy of what the
// person wrote or can be reached by: the sealed fields, the reply handles,
// their replies, officers' notes and notes to units, messages about them,
// and the photos and files they sent. What stays is the bare row
// (reference, kind, channel, status, dates) that the statistics and the
// audit trail need, none of it personal. Messages still waiting to go
// to the person are cancelled.
const sqlEraseTip = `WITH t AS (
	UPDATE tips SET sealed = NULL, details = '{}'::jsonb, media = '[]'::jsonb, follow_up = false,
		erased_at = now(), updated_at = now()
	WHERE id = $1 AND erased_at IS NULL
	RETURNING id
), k AS (
	UPDATE data_keys SET wrapped = NULL, destroyed_at = now() WHERE tip_id IN (SELECT id FROM t)
), o AS (
	-- one UPDATE per row: a statement must not change a row twice
	UPDATE outbox SET recipient_sealed = '\x'::bytea, body = CASE WHEN kind = 'alert' THEN body ELSE '' END,
		status = CASE WHEN status = 'queued' THEN 'undeliverable' ELSE status END,
		last_error = CASE WHEN status = 'queued' THEN 'report erased' ELSE last_error END,
		failed_at = CASE WHEN status = 'queued' THEN now() ELSE failed_at END
	WHERE tip_id IN (SELECT id FROM t)
), m AS (
	UPDATE tip_messages SET body = '', sealed_body = NULL WHERE tip_id IN (SELECT id FROM t)
), n AS (
	UPDATE tip_notes SET body = '' WHERE tip_id IN (SELECT id FROM t)
), rf AS (
	-- what the officer wrote to the unit; which unit, when and which
	-- answers were shared stay: they say where the report went
	UPDATE referrals SET note = '' WHERE tip_id IN (SELECT id FROM t)
), md AS (
	-- photos and files: shredded with the key, and their sealed copies gone
	-- too; kind, type, size and status stay for the statistics
	UPDATE tip_media SET source_sealed = NULL, sha256_sealed = NULL, original_sealed = NULL, clean_sealed = NULL,
		status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END,
		last_error = CASE WHEN status = 'pending' THEN 'report erased' ELSE last_error END
	WHERE tip_id IN (SELECT id FROM t)
), a AS (
	INSERT INTO audit_log (actor, action, tip_id, details)
	SELECT $2, 'tip.erased', id, jsonb_build_object('why', $3::text) FROM t
)
SELECT (SELECT count(*) FROM tips WHERE id = $1), (SELECT count(*) FROM t)`

// EraseTip crypto-shreds a report: its data key is destroyed, so the sealed
// fields are unreadable everywhere, backups of the other tables included,
// and the live copies are cleared too. why is a short reason code for the
// audit log (data_request, retention), never free text. Erasing an erased
// report changes nothing and is not an error.
func (db *DB) EraseTip(ctx context.Context, tipID int64, actor, why string) error {
	return eraseTip(ctx, db.pool, tipID, actor, why)
}

// rowQuerier is a pool or a transaction: an erasure may be part of a
// larger decision (a data request's).
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func eraseTip(ctx context.Context, q rowQuerier, tipID int64, actor, why string) error {
	var found, erased int
	if err := q.QueryRow(ctx, sqlEraseTip, tipID, actor, why).Scan(&found, &erased); err != nil {
		return fmt.Errorf("erase tip: %w", err)
	}
	if found == 0 {
		return ErrNotFound
	}
	return nil
}
