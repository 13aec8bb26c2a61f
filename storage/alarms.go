package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Alarm is a watched alarm: a sender who raised it, on a channel.
type Alarm struct {
	ID       int64
	Channel  string
	Sender   string // pseudonym
	RaisedAt time.Time
}

// WatchAlarm starts watching a sender who raised the alarm: unless a report
// settles it, it is due at due. A sender already watched keeps the first
// watch (its due time stands). A watch that starts queues alert (if not
// nil) to the officers' group in the same statement: a person in danger
// who is still answering questions is known to a human at once, not only
// once they send or fall silent. Open queue pages are told (NOTIFY tips).
func (db *DB) WatchAlarm(ctx context.Context, channel, sender string, due time.Time, alert *Alert) error {
	var a Alert
	if alert != nil {
		a = *alert
	}
	_, err := db.pool.Exec(ctx, `WITH w AS (
		INSERT INTO alarms (channel, sender_pseudonym, due_at) VALUES ($1, $2, $3)
		ON CONFLICT (channel, sender_pseudonym) WHERE settled_at IS NULL DO NOTHING RETURNING id
	), o AS (
		INSERT INTO outbox (kind, channel, recipient_pseudonym, recipient_sealed, language, body)
		SELECT 'alert', $4, $5, $6, 'vi', $7 FROM w WHERE $7 <> '' RETURNING id
	) SELECT (SELECT pg_notify('outbox', id::text) FROM o LIMIT 1), (SELECT pg_notify('tips', 'alarm') FROM w)`,
		channel, sender, due, a.Channel, a.Pseudonym, a.Sealed, a.Body)
	if err != nil {
		return fmt.Errorf("watch alarm: %w", err)
	}
	return nil
}

// OpenAlarm is a person who raised the alarm and has sent nothing yet, as
// the console shows it: no pseudonym, no words.
type OpenAlarm struct {
	Channel  string
	RaisedAt time.Time
	DueAt    time.Time // filed then if they stay silent (or a lease's end)
}

// OpenAlarms lists the people who raised the alarm and have sent nothing
// since (an alarm stays open until the sweep settles it, up to a silence
// after the report), oldest first.
func (db *DB) OpenAlarms(ctx context.Context) ([]OpenAlarm, error) {
	rows, err := db.pool.Query(ctx, `SELECT channel, raised_at, due_at FROM alarms a
		WHERE settled_at IS NULL AND NOT `+sqlReportedSince+`
		AND NOT EXISTS (SELECT 1 FROM tips t WHERE t.channel = a.channel AND t.source_message_id = 'alarm:' || a.id)
		ORDER BY raised_at LIMIT 100`)
	if err != nil {
		return nil, fmt.Errorf("open alarms: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[OpenAlarm])
}

// AlarmFiledSince says whether the sender's cry up to since is already
// filed: no alarm of theirs is open (nothing told since the filing), and one
// was filed at or after since. A wipe right after a silence filing must not
// file the same words again.
func (db *DB) AlarmFiledSince(ctx context.Context, channel, sender string, since time.Time) (bool, error) {
	var filed bool
	err := db.pool.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM alarms WHERE channel = $1 AND sender_pseudonym = $2 AND settled_at IS NULL)
		AND EXISTS (SELECT 1 FROM alarms WHERE channel = $1 AND sender_pseudonym = $2 AND outcome = 'filed' AND settled_at >= $3)`,
		channel, sender, since).Scan(&filed)
	if err != nil {
		return false, fmt.Errorf("alarm filed: %w", err)
	}
	return filed, nil
}

// DueAlarms takes up to limit alarms that are due, each leased for lease:
// another replica does not take it again before the lease ends, and one
// that died holding it gives it back when it does.
func (db *DB) DueAlarms(ctx context.Context, limit int, lease time.Duration) ([]Alarm, error) {
	rows, err := db.pool.Query(ctx, `UPDATE alarms SET due_at = now() + make_interval(secs => $2)
		WHERE id IN (SELECT id FROM alarms WHERE settled_at IS NULL AND due_at <= now()
			ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING id, channel, sender_pseudonym, raised_at`, limit, lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("due alarms: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Alarm])
}

// PostponeAlarm makes an alarm due again at due (the person is still
// writing).
func (db *DB) PostponeAlarm(ctx context.Context, id int64, due time.Time) error {
	_, err := db.pool.Exec(ctx, `UPDATE alarms SET due_at = $2 WHERE id = $1 AND settled_at IS NULL`, id, due)
	if err != nil {
		return fmt.Errorf("postpone alarm: %w", err)
	}
	return nil
}

// sqlReportedSince is true when the alarm a's sender committed a report on
// its channel since raising it (not the one filed for the alarm itself).
// When it was committed is its acknowledgement's row: a report's own
// created_at may be its first cry, before the alarm (flows.Report.Since).
const sqlReportedSince = `EXISTS (SELECT 1 FROM tips t JOIN outbox o ON o.tip_id = t.id AND o.kind = 'ack'
	WHERE t.sender_pseudonym = a.sender_pseudonym AND t.channel = a.channel AND o.created_at >= a.raised_at
	AND t.source_message_id <> 'alarm:' || a.id)`

// AlarmReported says whether the alarm's sender committed a report on its
// channel since raising it.
func (db *DB) AlarmReported(ctx context.Context, id int64) (bool, error) {
	var yes bool
	err := db.pool.QueryRow(ctx, `SELECT `+sqlReportedSince+` FROM alarms a WHERE a.id = $1`, id).Scan(&yes)
	if err != nil {
		return false, fmt.Errorf("alarm reported: %w", err)
	}
	return yes, nil
}

// SettleAlarm closes an alarm with nothing filed: "reported" if the sender
// committed a report since raising it, else "dropped" (they cancelled or
// wiped the chat).
func (db *DB) SettleAlarm(ctx context.Context, id int64) (string, error) {
	var outcome string
	var ignored *string
	err := db.pool.QueryRow(ctx, `WITH s AS (UPDATE alarms a SET settled_at = now(),
		outcome = CASE WHEN `+sqlReportedSince+` THEN 'reported' ELSE 'dropped' END
		WHERE id = $1 AND settled_at IS NULL RETURNING outcome)
		SELECT outcome, pg_notify('tips', 'alarm') FROM s`, id).Scan(&outcome, &ignored)
	if err != nil && err != pgx.ErrNoRows {
		return "", fmt.Errorf("settle alarm: %w", err)
	}
	return outcome, nil
}

// DropAlarm closes the sender's open alarm, if any, as dropped: they
// withdrew the request that held the cry. Open queue pages are told.
func (db *DB) DropAlarm(ctx context.Context, channel, sender string) error {
	_, err := db.pool.Exec(ctx, `WITH d AS (UPDATE alarms SET settled_at = now(), outcome = 'dropped'
		WHERE channel = $1 AND sender_pseudonym = $2 AND settled_at IS NULL RETURNING id)
		SELECT pg_notify('tips', 'alarm') FROM d LIMIT 1`, channel, sender)
	if err != nil {
		return fmt.Errorf("drop alarm: %w", err)
	}
	return nil
}

// FiledAlarm closes an alarm as filed, with the report filed for it (found
// by its source key, alarm:<id>, whichever try made it).
func (db *DB) FiledAlarm(ctx context.Context, id int64) error {
	_, err := db.pool.Exec(ctx, `WITH f AS (UPDATE alarms a SET settled_at = now(), outcome = 'filed',
		tip_id = (SELECT t.id FROM tips t WHERE t.channel = a.channel AND t.source_message_id = 'alarm:' || a.id)
		WHERE a.id = $1 AND a.settled_at IS NULL RETURNING a.id)
		SELECT pg_notify('tips', 'alarm') FROM f`, id)
	if err != nil {
		return fmt.Errorf("filed alarm: %w", err)
	}
	return nil
}
