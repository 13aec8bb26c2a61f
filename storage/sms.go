package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// sqlConsentChange records that a number's consent changes, as asked by a
// message the provider received at $2, and returns a row only if no later
// change is recorded: the gateway may deliver a STOP again after the
// person's START, and the older one changes nothing. $2 NULL is a change
// the provider itself reports (the number unsubscribed): now, and always.
// Times of one pseudonym come from one provider's clock (a pseudonym is a
// number through one provider), so they compare.
const sqlConsentChange = `INSERT INTO sms_consent_changes (pseudonym, changed_at) VALUES ($1, coalesce($2, now()))
	ON CONFLICT (pseudonym) DO UPDATE SET changed_at = greatest(sms_consent_changes.changed_at, EXCLUDED.changed_at)
	WHERE $2::timestamptz IS NULL OR sms_consent_changes.changed_at <= EXCLUDED.changed_at
	RETURNING 1`

// consentChange runs sqlConsentChange in tx: false when the change is
// older than the last one, and is not to be applied.
func consentChange(ctx context.Context, tx pgx.Tx, pseudonym string, at time.Time) (bool, error) {
	var when *time.Time
	if !at.IsZero() {
		when = &at
	}
	var one int
	err := tx.QueryRow(ctx, sqlConsentChange, pseudonym, when).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// SetOptOut records that nothing may be sent to pseudonym (out), or that it
// may be again (START), as asked by a message the provider received at at;
// zero: a change the provider reports, applied now. It reports false, and
// changes nothing, when a later STOP or START is recorded already.
func (db *DB) SetOptOut(ctx context.Context, pseudonym string, out bool, reason string, at time.Time) (bool, error) {
	var applied bool
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		if applied, err = consentChange(ctx, tx, pseudonym, at); err != nil || !applied {
			return err
		}
		if out {
			// A STOP after a "dung" takes back the notice the "dung" queued,
			// if it has not gone yet: after STOP, nothing.
			_, err = tx.Exec(ctx, `INSERT INTO sms_optouts (pseudonym, reason) VALUES ($1, $2)
				ON CONFLICT (pseudonym) DO UPDATE SET notice_outbox_id = NULL`, pseudonym, reason)
		} else {
			_, err = tx.Exec(ctx, `DELETE FROM sms_optouts WHERE pseudonym = $1`, pseudonym)
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("set opt-out: %w", err)
	}
	return applied, nil
}

// OptOutWithNotice records an opt-out asked at at (see SetOptOut) and
// queues the one text that says so (body, to the sealed handle), in one
// transaction: the notice is the only message let through to the number
// afterwards (see OptedOut). A number already opted out keeps its opt-out
// and gets no notice; an opt-out older than the last START changes nothing
// (false).
func (db *DB) OptOutWithNotice(ctx context.Context, channel, pseudonym string, sealed []byte, lang, body string, at time.Time) (bool, error) {
	var applied bool
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		if applied, err = consentChange(ctx, tx, pseudonym, at); err != nil || !applied {
			return err
		}
		var fresh bool
		if err := tx.QueryRow(ctx, `WITH o AS (
				INSERT INTO sms_optouts (pseudonym, reason) VALUES ($1, 'stop') ON CONFLICT (pseudonym) DO NOTHING
				RETURNING 1
			) SELECT EXISTS (SELECT 1 FROM o)`, pseudonym).Scan(&fresh); err != nil || !fresh {
			return err
		}
		var id int64
		var ignored string
		if err := tx.QueryRow(ctx, sqlQueueReply, channel, pseudonym, sealed, lang, body).Scan(&id, &ignored); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE sms_optouts SET notice_outbox_id = $2 WHERE pseudonym = $1`, pseudonym, id)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("opt out with notice: %w", err)
	}
	return applied, nil
}

// TipSenderOptedOut reports whether the sender of an SMS report asked for no
// more messages (STOP, DUNG, or the provider's word that the number
// unsubscribed): the console warns before an officer writes in vain. The
// sender's pseudonym stays in the database.
func (db *DB) TipSenderOptedOut(ctx context.Context, tipID int64) (bool, error) {
	var out bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tips t JOIN sms_optouts o ON o.pseudonym = t.sender_pseudonym
		WHERE t.id = $1 AND t.channel = 'sms' AND t.sender_pseudonym <> '')`, tipID).Scan(&out)
	if err != nil {
		return false, fmt.Errorf("tip sender opted out: %w", err)
	}
	return out, nil
}

// OptedOut reports whether pseudonym asked for no more messages, and the
// outbox ID of the notice that says so, if one was queued (0: none): that
// one message still goes.
func (db *DB) OptedOut(ctx context.Context, pseudonym string) (bool, int64, error) {
	var notice *int64
	err := db.pool.QueryRow(ctx, `SELECT notice_outbox_id FROM sms_optouts WHERE pseudonym = $1`, pseudonym).Scan(&notice)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("opted out: %w", err)
	}
	if notice == nil {
		return true, 0, nil
	}
	return true, *notice, nil
}
