package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// TipMessage is one message of a tip's two-way thread.
type TipMessage struct {
	ID        int64
	Direction string // "out" from an officer, "in" from the reporter
	Body      string
	Officer   string
	Status    string // delivery state of an outgoing message
	Reason    string // why it was not delivered, as the outbox recorded it
	CreatedAt time.Time
}

// sqlQueueFollowUp writes an officer's message to the reporter: into the
// outbox, on the channel the reporter used, to the handle sealed with the
// acknowledgement (the officer never sees it), if the reporter allowed it.
const sqlQueueFollowUp = `WITH tip AS (
	SELECT id, follow_up FROM tips WHERE id = $1
), o AS (
	INSERT INTO outbox (tip_id, kind, channel, recipient_pseudonym, recipient_sealed, language, body)
	SELECT ack.tip_id, 'followup', ack.channel, ack.recipient_pseudonym, ack.recipient_sealed, ack.language, $3
	FROM tip JOIN outbox ack ON ack.tip_id = tip.id AND ack.kind = 'ack'
	WHERE tip.follow_up
	ORDER BY ack.id LIMIT 1
	RETURNING id, tip_id
), m AS (
	INSERT INTO tip_messages (tip_id, direction, body, officer, outbox_id)
	SELECT tip_id, 'out', $3, $2, id FROM o
), a AS (
	INSERT INTO audit_log (actor, action, tip_id)
	SELECT $2, 'tip.followup_sent', tip_id FROM o
)
SELECT (SELECT count(*) FROM tip), (SELECT follow_up FROM tip), (SELECT id FROM o),
	(SELECT pg_notify('outbox', id::text) FROM o)`

// QueueFollowUp queues an officer's message to a tip's reporter. It returns
// ErrNotFound for no such tip and ErrNoFollowUp when the reporter did not
// allow messages.
func (db *DB) QueueFollowUp(ctx context.Context, tipID int64, officer, body string) (int64, error) {
	var found int
	var allowed *bool
	var outboxID *int64
	var ignored *string
	err := db.pool.QueryRow(ctx, sqlQueueFollowUp, tipID, officer, body).Scan(&found, &allowed, &outboxID, &ignored)
	switch {
	case err != nil:
		return 0, fmt.Errorf("queue follow-up: %w", err)
	case found == 0:
		return 0, ErrNotFound
	case allowed == nil || !*allowed || outboxID == nil:
		return 0, ErrNoFollowUp
	}
	return *outboxID, nil
}

// ThreadWindow is how long after an officer's message a reporter's free
// message is taken as a reply to it.
const ThreadWindow = 14 * 24 * time.Hour

const sqlOpenThread = `SELECT t.reference FROM tips t
WHERE t.sender_pseudonym = $1 AND t.status NOT IN ('resolved', 'unfounded', 'duplicate')
	AND EXISTS (SELECT 1 FROM outbox o WHERE o.tip_id = t.id AND o.kind = 'followup'
		AND o.status IN ('sent', 'delivered') AND o.sent_at > now() - make_interval(secs => $2))
ORDER BY (SELECT max(o.sent_at) FROM outbox o WHERE o.tip_id = t.id AND o.kind = 'followup') DESC
LIMIT 1`

// OpenThread returns the reference of the sender's tip with the most recent
// officer message still open, or ErrNotFound.
func (db *DB) OpenThread(ctx context.Context, sender string) (string, error) {
	var ref string
	err := db.pool.QueryRow(ctx, sqlOpenThread, sender, ThreadWindow.Seconds()).Scan(&ref)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("open thread: %w", err)
	}
	return ref, nil
}

const sqlAppendReply = `WITH tip AS (
	SELECT id FROM tips WHERE reference = $1 AND sender_pseudonym = $2 AND erased_at IS NULL
), m AS (
	INSERT INTO tip_messages (tip_id, direction, body, sealed_body, source_channel, source_message_id)
	SELECT id, 'in', '', $5, $3, $4 FROM tip
	ON CONFLICT ON CONSTRAINT tip_messages_source_once DO NOTHING
	RETURNING tip_id
), a AS (
	INSERT INTO audit_log (actor, action, tip_id) SELECT 'reporter', 'tip.reply_received', tip_id FROM m
)
SELECT count(*) FROM tip`

// replyPurpose binds a sealed reply to its report.
const replyPurpose = "reply"

// AppendReply attaches a reporter's message to their tip's thread, once per
// source message, sealed under the tip's data key. It returns ErrNotFound
// unless sender made the tip.
func (db *DB) AppendReply(ctx context.Context, ref, sender, channel, sourceID, body string) error {
	var wrapped []byte
	err := db.pool.QueryRow(ctx, `SELECT k.wrapped FROM tips t JOIN data_keys k ON k.tip_id = t.id
		WHERE t.reference = $1 AND t.sender_pseudonym = $2`, ref, sender).Scan(&wrapped)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("append reply: %w", err)
	}
	dk, err := db.dataKey(ref, wrapped)
	if err != nil {
		return fmt.Errorf("append reply: %w", err)
	}
	var found int
	if err := db.pool.QueryRow(ctx, sqlAppendReply, ref, sender, channel, sourceID, dk.Seal(replyPurpose, []byte(body))).Scan(&found); err != nil {
		return fmt.Errorf("append reply: %w", err)
	}
	if found == 0 {
		return ErrNotFound
	}
	return nil
}

const sqlTipMessages = `SELECT m.id, m.direction, m.body, COALESCE(m.officer, ''), COALESCE(o.status, ''), COALESCE(o.last_error, ''), m.created_at,
	m.sealed_body, t.reference, k.wrapped
FROM tip_messages m JOIN tips t ON t.id = m.tip_id LEFT JOIN data_keys k ON k.tip_id = m.tip_id
LEFT JOIN outbox o ON o.id = m.outbox_id
WHERE m.tip_id = $1 ORDER BY m.id`

// TipMessages lists a tip's thread, with each outgoing message's delivery
// state; the reporter's replies are opened with the tip's data key.
func (db *DB) TipMessages(ctx context.Context, tipID int64) ([]TipMessage, error) {
	rows, err := db.pool.Query(ctx, sqlTipMessages, tipID)
	if err != nil {
		return nil, fmt.Errorf("tip messages: %w", err)
	}
	msgs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TipMessage, error) {
		var m TipMessage
		var sealed, wrapped []byte
		var ref string
		if err := row.Scan(&m.ID, &m.Direction, &m.Body, &m.Officer, &m.Status, &m.Reason, &m.CreatedAt, &sealed, &ref, &wrapped); err != nil {
			return m, err
		}
		if sealed != nil {
			dk, err := db.dataKey(ref, wrapped)
			if err != nil {
				return m, err
			}
			plain, err := dk.Open(replyPurpose, sealed)
			if err != nil {
				return m, err
			}
			m.Body = string(plain)
		}
		return m, nil
	})
	if err != nil {
		return nil, fmt.Errorf("tip messages: %w", err)
	}
	return msgs, nil
}
