package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DueTip is a report whose deadline is near and nobody has picked up.
type DueTip struct {
	ID        int64
	Reference string
	Kind      string
	Category  string
	Urgent    bool
	CreatedAt time.Time
}

// A report's time in the queue counts from its acknowledgement's row (when
// it was committed): created_at may be the person's first cry, before the
// report existed, and an old cry would page "nobody took it" at once.
const sqlDueTips = `SELECT id, reference, kind, COALESCE(category, ''), urgency = 'urgent', created_at FROM tips
WHERE status = 'new' AND deadline_alerted_at IS NULL
	AND GREATEST(created_at, (SELECT min(o.created_at) FROM outbox o WHERE o.tip_id = tips.id AND o.kind = 'ack'))
		< now() - CASE WHEN urgency = 'urgent' THEN make_interval(secs => $1) ELSE make_interval(secs => $2) END
ORDER BY created_at
FOR UPDATE SKIP LOCKED
LIMIT 50`

const sqlAlertDue = `WITH t AS (
	UPDATE tips SET deadline_alerted_at = now() WHERE id = $1 RETURNING id
)
INSERT INTO outbox (tip_id, kind, channel, recipient_pseudonym, recipient_sealed, language, body)
SELECT id, 'alert', $2, $3, $4, 'vi', $5 FROM t`

// AlertDueTips finds new reports still untouched after urgentAfter (urgent)
// or normalAfter (the others), asks text for each one's alert, and queues the
// alerts to the officers' group, once per report. Replicas may run it
// together: each report is alerted by one of them.
func (db *DB) AlertDueTips(ctx context.Context, urgentAfter, normalAfter time.Duration, group Alert, text func(DueTip) string) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sqlDueTips, urgentAfter.Seconds(), normalAfter.Seconds())
		if err != nil {
			return err
		}
		due, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DueTip, error) {
			var d DueTip
			err := row.Scan(&d.ID, &d.Reference, &d.Kind, &d.Category, &d.Urgent, &d.CreatedAt)
			return d, err
		})
		if err != nil {
			return err
		}
		for _, d := range due {
			if _, err := tx.Exec(ctx, sqlAlertDue, d.ID, group.Channel, group.Pseudonym, group.Sealed, text(d)); err != nil {
				return err
			}
			n++
		}
		if n > 0 {
			_, err = tx.Exec(ctx, `SELECT pg_notify('outbox', 'alerts')`)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("alert due tips: %w", err)
	}
	return n, nil
}
