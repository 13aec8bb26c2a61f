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
	Kind               string
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
}

// sqlClaimOutbox takes due rows, and rows whose sender died mid-send (lease
// expired), without waiting for rows another dispatcher holds.
const sqlClaimOutbox = `UPDATE outbox SET status = 'sending', attempts = attempts + 1,
	lease_until = now() + make_interval(secs => $2)
WHERE id IN (
	SELECT id FROM outbox
	WHERE (status = 'queued' AND next_attempt_at <= now())
	   OR (status = 'sending' AND lease_until < now())
	ORDER BY next_attempt_at, id
	FOR UPDATE SKIP LOCKED
	LIMIT $1)
RETURNING id, COALESCE(tip_id, 0), kind, channel, recipient_pseudonym, recipient_sealed, language, body,
	status, attempts, COALESCE(last_error, ''), COALESCE(provider_message_id, ''), created_at`

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

func scanOutbox(row pgx.CollectableRow) (OutboxMessage, error) {
	var m OutboxMessage
	err := row.Scan(&m.ID, &m.TipID, &m.Kind, &m.Channel, &m.RecipientPseudonym, &m.RecipientSealed, &m.Language,
		&m.Body, &m.Status, &m.Attempts, &m.LastError, &m.ProviderMessageID, &m.CreatedAt)
	return m, err
}

const sqlMarkSent = `UPDATE outbox SET status = 'sent', provider_message_id = $2, sent_at = now(),
	lease_until = NULL, last_error = NULL
WHERE id = $1 AND status = 'sending'`

// MarkSent records that the provider accepted the message.
func (db *DB) MarkSent(ctx context.Context, id int64, providerID string) error {
	if _, err := db.pool.Exec(ctx, sqlMarkSent, id, providerID); err != nil {
		return fmt.Errorf("mark sent: %w", err)
	}
	return nil
}

const sqlMarkRetry = `UPDATE outbox SET status = 'queued', next_attempt_at = $2, last_error = $3, lease_until = NULL
WHERE id = $1 AND status = 'sending'`

// MarkRetry puts a message back in the queue until next.
func (db *DB) MarkRetry(ctx context.Context, id int64, next time.Time, reason string) error {
	if _, err := db.pool.Exec(ctx, sqlMarkRetry, id, next, reason); err != nil {
		return fmt.Errorf("mark retry: %w", err)
	}
	return nil
}

const sqlMarkFailed = `UPDATE outbox SET status = $2, last_error = $3, failed_at = now(), lease_until = NULL
WHERE id = $1 AND status = 'sending'`

// MarkFailed ends a message in a terminal state (failed or undeliverable)
// with the reason, for officers to see.
func (db *DB) MarkFailed(ctx context.Context, id int64, status, reason string) error {
	if status != "failed" && status != "undeliverable" {
		return fmt.Errorf("mark failed: %q is not a failure status", status)
	}
	if _, err := db.pool.Exec(ctx, sqlMarkFailed, id, status, reason); err != nil {
		return fmt.Errorf("mark failed: %w", err)
	}
	return nil
}

const sqlOutboxForTip = `SELECT id, COALESCE(tip_id, 0), kind, channel, recipient_pseudonym, recipient_sealed, language, body,
	status, attempts, COALESCE(last_error, ''), COALESCE(provider_message_id, ''), created_at
FROM outbox WHERE tip_id = $1 ORDER BY id`

// OutboxForTip lists a tip's messages and their delivery state.
func (db *DB) OutboxForTip(ctx context.Context, tipID int64) ([]OutboxMessage, error) {
	rows, err := db.pool.Query(ctx, sqlOutboxForTip, tipID)
	if err != nil {
		return nil, fmt.Errorf("outbox for tip: %w", err)
	}
	msgs, err := pgx.CollectRows(rows, scanOutbox)
	if err != nil {
		return nil, fmt.Errorf("outbox for tip: %w", err)
	}
	return msgs, nil
}
