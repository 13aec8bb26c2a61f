package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// sqlQueueReply puts a conversational reply in the outbox: on SMS every
// message we send is tracked to delivery, replies included.
const sqlQueueReply = `WITH o AS (
	INSERT INTO outbox (kind, channel, recipient_pseudonym, recipient_sealed, language, body)
	VALUES ('reply', $1, $2, $3, $4, $5)
	RETURNING id
)
SELECT id, pg_notify('outbox', id::text) FROM o`

// QueueReply queues a reply to a sender (sealed handle) on channel.
func (db *DB) QueueReply(ctx context.Context, channel, pseudonym string, sealed []byte, lang, body string) (int64, error) {
	var id int64
	var ignored string
	if err := db.pool.QueryRow(ctx, sqlQueueReply, channel, pseudonym, sealed, lang, body).Scan(&id, &ignored); err != nil {
		return 0, fmt.Errorf("queue reply: %w", err)
	}
	return id, nil
}

// OptOut reasons.
const (
	OptOutStop     = "stop"     // the person wrote STOP
	OptOutProvider = "provider" // the provider refused: the number unsubscribed
)

// SetOptOut records that nothing may be sent to pseudonym (out), or that it
// may be again (START).
func (db *DB) SetOptOut(ctx context.Context, pseudonym string, out bool, reason string) error {
	var err error
	if out {
		_, err = db.pool.Exec(ctx, `INSERT INTO sms_optouts (pseudonym, reason) VALUES ($1, $2)
			ON CONFLICT (pseudonym) DO NOTHING`, pseudonym, reason)
	} else {
		_, err = db.pool.Exec(ctx, `DELETE FROM sms_optouts WHERE pseudonym = $1`, pseudonym)
	}
	if err != nil {
		return fmt.Errorf("set opt-out: %w", err)
	}
	return nil
}

// OptedOut reports whether pseudonym asked for no more messages.
func (db *DB) OptedOut(ctx context.Context, pseudonym string) (bool, error) {
	var one int
	err := db.pool.QueryRow(ctx, `SELECT 1 FROM sms_optouts WHERE pseudonym = $1`, pseudonym).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("opted out: %w", err)
	}
	return true, nil
}
