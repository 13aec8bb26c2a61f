package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Unit is an agency reports are referred to.
type Unit struct {
	ID   int64
	Name string
	Kind string // police, border_guard, health, legal_aid, hotline, other
}

// Units lists the units, by name.
func (db *DB) Units(ctx context.Context) ([]Unit, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, name, kind FROM units ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("units: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Unit])
}

// Referral is a report handed to a unit.
type Referral struct {
	ID             int64
	UnitID         int64
	UnitName       string
	UnitKind       string
	Note           string
	Shared         []string
	ReferredBy     string
	SentAt         time.Time
	AcknowledgedBy string
	AcknowledgedAt *time.Time
}

const sqlRefer = `WITH r AS (
	INSERT INTO referrals (tip_id, unit_id, note, shared, referred_by) VALUES ($1, $2, $3, $4, $5)
	RETURNING id, tip_id
), a AS (
	INSERT INTO audit_log (actor, action, tip_id, details)
	SELECT $5, 'tip.referred', tip_id, jsonb_build_object('unit', $2::bigint, 'shared', $4::text[])
		|| CASE WHEN $6::text <> '' THEN jsonb_build_object('emergency', true) ELSE '{}'::jsonb END FROM r
), n AS (
	INSERT INTO tip_notes (tip_id, officer, body) SELECT tip_id, $5, $6 FROM r WHERE $6::text <> ''
)
SELECT id FROM r`

// Refer hands a report to a unit with a note and the answers shared.
// Audited. When the referral needed the emergency exception to the
// person's consent, emergency is the officer's reason (else ""): the audit
// says only that it was one, and the reason, free text, is kept as the
// officer's note on the report, which erasing the report clears.
func (db *DB) Refer(ctx context.Context, tipID, unitID int64, note string, shared []string, officer, emergency string) (int64, error) {
	var id int64
	if err := db.pool.QueryRow(ctx, sqlRefer, tipID, unitID, note, shared, officer, emergency).Scan(&id); err != nil {
		return 0, fmt.Errorf("refer: %w", err)
	}
	return id, nil
}

// ReferAndForward refers as Refer does and, in the same transaction, moves
// the report to "forwarded" as ChangeTipStatus does, queueing notice:
// both happen or neither, so a failure leaves nothing half done to resend.
func (db *DB) ReferAndForward(ctx context.Context, tipID, unitID int64, note string, shared []string, officer, emergency, notice string) (int64, error) {
	var id int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, sqlRefer, tipID, unitID, note, shared, officer, emergency).Scan(&id); err != nil {
			return fmt.Errorf("refer: %w", err)
		}
		_, err := changeTipStatus(ctx, tx, tipID, "forwarded", officer, notice)
		return err
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// Referrals lists a report's referrals, oldest first.
func (db *DB) Referrals(ctx context.Context, tipID int64) ([]Referral, error) {
	rows, err := db.pool.Query(ctx, `SELECT r.id, r.unit_id, u.name, u.kind, r.note, r.shared, r.referred_by, r.sent_at,
		COALESCE(r.acknowledged_by, ''), r.acknowledged_at
		FROM referrals r JOIN units u ON u.id = r.unit_id WHERE r.tip_id = $1 ORDER BY r.id`, tipID)
	if err != nil {
		return nil, fmt.Errorf("referrals: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Referral])
}

// AcknowledgeReferral records that the receiving unit has the report (only
// an officer of that unit may); a second acknowledgement changes nothing.
func (db *DB) AcknowledgeReferral(ctx context.Context, referralID int64, officer, unit string) error {
	var tipID int64
	err := db.pool.QueryRow(ctx, `WITH r AS (
		UPDATE referrals SET acknowledged_by = $2, acknowledged_at = now()
		FROM units u WHERE referrals.id = $1 AND u.id = referrals.unit_id AND u.name = $3 AND acknowledged_at IS NULL
		RETURNING referrals.tip_id
	), a AS (
		INSERT INTO audit_log (actor, action, tip_id, details)
		SELECT $2, 'tip.referral_acknowledged', tip_id, jsonb_build_object('referral', $1::bigint) FROM r
	) SELECT tip_id FROM r`, referralID, officer, unit).Scan(&tipID)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("acknowledge referral: %w", err)
	}
	return nil
}

// AddUnit adds a unit; ErrConflict if the name exists. Audited.
func (db *DB) AddUnit(ctx context.Context, name, kind, by string) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO units (name, kind) VALUES ($1, $2)`, name, kind); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO audit_log (actor, action, details) VALUES ($1, 'unit.added', jsonb_build_object('name', $2::text))`, by, name)
		return err
	})
	if isUniqueViolation(err, "units_name_key") {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("add unit: %w", err)
	}
	return nil
}

// UnitItem is a report not yet decided, with the unit it was last referred
// to ("" for the intake team).
type UnitItem struct {
	QueueItem
	Unit string
}

// Undecided lists every report not yet decided with its current unit, for
// the supervisors' page of what is late.
func (db *DB) Undecided(ctx context.Context) ([]UnitItem, error) {
	rows, err := db.pool.Query(ctx, `SELECT t.id, t.reference, t.kind, t.channel, t.status, t.urgency, COALESCE(t.category, ''),
		COALESCE(t.claimed_by, ''), t.created_at, t.distress, t.complex, t.extended,
		COALESCE((SELECT u.name FROM referrals r JOIN units u ON u.id = r.unit_id WHERE r.tip_id = t.id ORDER BY r.id DESC LIMIT 1), '')
		FROM tips t WHERE t.status IN ('new', 'in_review', 'verifying', 'forwarded')
		ORDER BY t.created_at LIMIT 2000`)
	if err != nil {
		return nil, fmt.Errorf("undecided: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (UnitItem, error) {
		var u UnitItem
		q := &u.QueueItem
		err := r.Scan(&q.ID, &q.Reference, &q.Kind, &q.Channel, &q.Status, &q.Urgency, &q.Category, &q.ClaimedBy, &q.CreatedAt,
			&q.Distress, &q.Complex, &q.Extended, &u.Unit)
		return u, err
	})
}

// Note is an officer's note on a report.
type Note struct {
	Officer   string
	Body      string
	CreatedAt time.Time
}

// AddNote records what an officer did or found. Audited (without the text).
func (db *DB) AddNote(ctx context.Context, tipID int64, officer, body string) error {
	_, err := db.pool.Exec(ctx, `WITH n AS (
		INSERT INTO tip_notes (tip_id, officer, body) VALUES ($1, $2, $3) RETURNING tip_id
	) INSERT INTO audit_log (actor, action, tip_id) SELECT $2, 'tip.note_added', tip_id FROM n`, tipID, officer, body)
	if err != nil {
		return fmt.Errorf("add note: %w", err)
	}
	return nil
}

// Notes lists a report's notes, oldest first.
func (db *DB) Notes(ctx context.Context, tipID int64) ([]Note, error) {
	rows, err := db.pool.Query(ctx, `SELECT officer, body, created_at FROM tip_notes WHERE tip_id = $1 ORDER BY id`, tipID)
	if err != nil {
		return nil, fmt.Errorf("notes: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Note])
}
