package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// OutboxMessage is a durable outbound message as the dispatcher sees it.
type OutboxMessage struct {
	ID                 int64
	TipID              int64
	Kind               string // ack, followup, status, alert
	Channel            string
	RecipientPseudonym string
	RecipientSealed    []byte
	Language           string
	Body               string
	Status             string
	Attempts           int
	LastError          string
	ProviderMessageID  string
	CreatedAt          time.Time
	SentAt             *time.Time
	DeliveredAt        *time.Time
	FailedAt           *time.Time
	// A report's handle is sealed under its data key: its reference and
	// the wrapped key open it (nil once the report is erased).
	TipReference string
	DataKey      []byte
}

const outboxColumns = `id, COALESCE(tip_id, 0), kind, channel, recipient_pseudonym, recipient_sealed, language, body,
	status, attempts, COALESCE(last_error, ''), COALESCE(provider_message_id, ''), created_at, sent_at, delivered_at, failed_at,
	COALESCE((SELECT t.reference FROM tips t WHERE t.id = outbox.tip_id), ''),
	(SELECT k.wrapped FROM data_keys k WHERE k.tip_id = outbox.tip_id)`

func scanOutbox(row pgx.CollectableRow) (OutboxMessage, error) {
	var m OutboxMessage
	err := row.Scan(&m.ID, &m.TipID, &m.Kind, &m.Channel, &m.RecipientPseudonym, &m.RecipientSealed, &m.Language,
		&m.Body, &m.Status, &m.Attempts, &m.LastError, &m.ProviderMessageID, &m.CreatedAt, &m.SentAt, &m.DeliveredAt, &m.FailedAt,
		&m.TipReference, &m.DataKey)
	return m, err
}

// sqlClaimOutbox takes due rows, and rows whose sender died mid-send (lease
// expired), without waiting for rows another dispatcher holds. Each claim
// counts an attempt; the attempt number identifies the claim, so that a
// dispatcher whose lease ran out cannot overwrite what the next one did.
// A row waits while an older one to the same recipient is being sent, or is
// queued to go within orderWindow (0019_outbox_order.sql): a person gets
// their messages in order, whatever pacing and short retries do. An older
// one waiting out a longer retry (the provider down for minutes) does not
// hold the rest back: a new alert to the officers, or the emergency
// numbers to a person, must not wait for it.
const orderWindow = "30 seconds"
const sqlClaimOutbox = `UPDATE outbox SET status = 'sending', attempts = attempts + 1,
	lease_until = now() + make_interval(secs => $2)
WHERE id IN (
	SELECT id FROM outbox o
	WHERE ((status = 'queued' AND next_attempt_at <= now())
	   OR (status = 'sending' AND lease_until < now()))
	  AND NOT EXISTS (SELECT 1 FROM outbox older
		WHERE older.channel = o.channel AND older.recipient_pseudonym = o.recipient_pseudonym
		  AND older.id < o.id AND older.status IN ('queued', 'sending')
		  AND (older.status = 'sending' OR older.next_attempt_at <= now() + interval '` + orderWindow + `'))
	ORDER BY next_attempt_at, id
	FOR UPDATE SKIP LOCKED
	LIMIT $1)
RETURNING ` + outboxColumns

// ClaimOutbox leases up to limit due messages for sending. A message whose
// lease runs out before it is marked is claimed again: delivery is
// at-least-once.
func (db *DB) ClaimOutbox(ctx context.Context, limit int, lease time.Duration) ([]OutboxMessage, error) {
	rows, err := db.pool.Query(ctx, sqlClaimOutbox, limit, lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	msgs, err := pgx.CollectRows(rows, scanOutbox)
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	return msgs, nil
}

// The marks below apply only to the claim they name (id and attempt) while it
// is still being sent; a stale claim's mark changes nothing and returns
// ErrConflict.

// A receipt may beat the provider's answer to the send (Twilio's status
// callback racing its create response): it is logged with the provider's ID,
// and applied here, when the ID becomes known.
const sqlMarkSent = `WITH early AS (
	SELECT status, error_code FROM delivery_receipts WHERE provider_message_id = $3
	ORDER BY outbox_status_rank(status) DESC, id LIMIT 1
)
UPDATE outbox SET
	status = CASE WHEN early.status IS NOT NULL AND outbox_status_rank(early.status) > 2 THEN early.status ELSE 'sent' END,
	provider_message_id = $3, sent_at = now(), lease_until = NULL,
	body = CASE WHEN outbox.kind = 'reply' THEN '' ELSE outbox.body END,
	delivered_at = CASE WHEN early.status = 'delivered' THEN now() END,
	failed_at = CASE WHEN early.status IN ('failed', 'undelivered') THEN now() END,
	last_error = CASE WHEN early.error_code IS NOT NULL THEN 'provider error ' || early.error_code END
FROM (SELECT 1) one LEFT JOIN early ON true
WHERE id = $1 AND attempts = $2 AND outbox.status = 'sending'`

// MarkSent records that the provider accepted the message. A
// conversational reply's words go then: nothing sends it again, and a
// summary repeats what the person wrote, which is kept only sealed, in the
// report. The row stays, to track it to delivery.
func (db *DB) MarkSent(ctx context.Context, id int64, attempt int, providerID string) error {
	return db.mark(ctx, "mark sent", sqlMarkSent, id, attempt, providerID)
}

const sqlMarkRetry = `UPDATE outbox SET status = 'queued', next_attempt_at = $3, last_error = $4, lease_until = NULL
WHERE id = $1 AND attempts = $2 AND status = 'sending'`

// MarkRetry puts a message back in the queue until next; the attempt counts.
func (db *DB) MarkRetry(ctx context.Context, id int64, attempt int, next time.Time, reason string) error {
	return db.mark(ctx, "mark retry", sqlMarkRetry, id, attempt, next, reason)
}

const sqlDefer = `UPDATE outbox SET status = 'queued', next_attempt_at = $3, attempts = attempts - 1, lease_until = NULL,
	last_error = COALESCE(NULLIF($4, ''), last_error)
WHERE id = $1 AND attempts = $2 AND status = 'sending'`

// Defer puts a message back in the queue until next without counting the
// attempt: a rate limit or a throttled provider delays a message, it never
// uses up its attempts. reason may be empty.
func (db *DB) Defer(ctx context.Context, id int64, attempt int, next time.Time, reason string) error {
	return db.mark(ctx, "defer", sqlDefer, id, attempt, next, reason)
}

const sqlMarkFailed = `UPDATE outbox SET status = $3, last_error = $4, failed_at = now(), lease_until = NULL,
	body = CASE WHEN kind = 'reply' THEN '' ELSE body END
WHERE id = $1 AND attempts = $2 AND status = 'sending'`

// MarkFailed ends a message in a terminal state (failed or undeliverable)
// with the reason, for officers to see.
func (db *DB) MarkFailed(ctx context.Context, id int64, attempt int, status, reason string) error {
	if status != "failed" && status != "undeliverable" {
		return fmt.Errorf("mark failed: %q is not a failure status", status)
	}
	return db.mark(ctx, "mark failed", sqlMarkFailed, id, attempt, status, reason)
}

func (db *DB) mark(ctx context.Context, what, sql string, id int64, attempt int, args ...any) error {
	tag, err := db.pool.Exec(ctx, sql, append([]any{id, attempt}, args...)...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: outbox %d attempt %d: %w", what, id, attempt, ErrConflict)
	}
	return nil
}

// Receipt statuses, in tinbao's terms.
var receiptStatuses = map[string]bool{"sending": true, "sent": true, "delivered": true, "failed": true, "undelivered": true}

// sqlRecordReceipt logs a receipt once and moves the message forward only:
// the rank check makes a late "sent" after "delivered", or a repeat, change
// nothing. (A receipt that came before its message was recorded as sent is
// applied when the provider sends it again.)
const sqlRecordReceipt = `WITH r AS (
	INSERT INTO delivery_receipts (provider_message_id, status, error_code) VALUES ($1, $2, NULLIF($3, ''))
	ON CONFLICT ON CONSTRAINT delivery_receipts_once DO NOTHING
	RETURNING 1
)
UPDATE outbox SET status = $2,
	delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END,
	failed_at = CASE WHEN $2 IN ('failed', 'undelivered') THEN now() ELSE failed_at END,
	last_error = CASE WHEN $3 <> '' THEN 'provider error ' || $3 ELSE last_error END,
	lease_until = NULL
WHERE provider_message_id = $1
	AND outbox_status_rank(status) < 3 AND outbox_status_rank($2) > outbox_status_rank(status)`

// RecordReceipt applies a provider's delivery receipt (status one of sending,
// sent, delivered, failed, undelivered). Receipts may come late, twice, or
// out of order; the state only ever moves forward. It reports whether the
// message's state changed.
func (db *DB) RecordReceipt(ctx context.Context, providerID, status, errorCode string) (bool, error) {
	if !receiptStatuses[status] {
		return false, fmt.Errorf("record receipt: unknown status %q", status)
	}
	tag, err := db.pool.Exec(ctx, sqlRecordReceipt, providerID, status, errorCode)
	if err != nil {
		return false, fmt.Errorf("record receipt: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

const sqlOutboxForTip = `SELECT ` + outboxColumns + ` FROM outbox WHERE tip_id = $1 ORDER BY id`

// OutboxForTip lists a tip's messages and their delivery state.
func (db *DB) OutboxForTip(ctx context.Context, tipID int64) ([]OutboxMessage, error) {
	return db.listOutbox(ctx, "outbox for tip", sqlOutboxForTip, tipID)
}

const sqlFailedOutbox = `SELECT ` + outboxColumns + ` FROM outbox
WHERE status IN ('failed', 'undelivered', 'undeliverable') ORDER BY failed_at DESC NULLS LAST, id DESC LIMIT $1`

// FailedOutbox lists the messages that did not reach their person, newest
// first, for officers to see and act on.
func (db *DB) FailedOutbox(ctx context.Context, limit int) ([]OutboxMessage, error) {
	return db.listOutbox(ctx, "failed outbox", sqlFailedOutbox, limit)
}

func (db *DB) listOutbox(ctx context.Context, what, sql string, args ...any) ([]OutboxMessage, error) {
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	msgs, err := pgx.CollectRows(rows, scanOutbox)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return msgs, nil
}
