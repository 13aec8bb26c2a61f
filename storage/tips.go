package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tinbao/flows"
)

// NewTip is a finished report with where it came from and how to acknowledge it.
type NewTip struct {
	Report          flows.Report
	Channel         string // telegram | sms | web
	SenderPseudonym string
	SourceMessageID string // the provider's ID of the submitting message
	SealedHandle    []byte // identity.Keyring.Seal of the handle to write back
}

// Tip is a row of the police queue.
type Tip struct {
	ID        int64
	Reference string
	Kind      string
	Channel   string
	Status    string
	Urgency   string
	Category  string
	Language  string
	Details   map[string]string
	CreatedAt time.Time
}

// CommittedTip is what CommitTip returns.
type CommittedTip struct {
	TipID     int64
	Reference string
	OutboxID  int64
}

// sqlCommitTip writes the tip, its acknowledgement in the outbox, an audit row
// and a wake-up for the dispatcher in one statement: one round trip, one
// transaction. A replayed source message inserts nothing.
const sqlCommitTip = `WITH t AS (
	INSERT INTO tips (reference, kind, channel, urgency, category, language, sender_pseudonym, details, source_message_id,
		media, follow_up)
	VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6, $7, $8, $9, $12, $13)
	ON CONFLICT ON CONSTRAINT tips_source_message_key DO NOTHING
	RETURNING id, reference
), o AS (
	INSERT INTO outbox (tip_id, kind, channel, recipient_pseudonym, recipient_sealed, language, body)
	SELECT id, 'ack', $3, $7, $10, $6, $11 FROM t
	RETURNING id
), a AS (
	INSERT INTO audit_log (actor, action, tip_id, details)
	SELECT 'system', 'tip.created', id, jsonb_build_object('channel', $3::text) FROM t
)
SELECT t.id, t.reference, o.id, pg_notify('outbox', o.id::text) FROM t, o`

// CommitTip commits a report and its acknowledgement together. It returns
// ErrDuplicate when the source message was committed before, and
// ErrReferenceTaken when the report's reference code already exists.
func (db *DB) CommitTip(ctx context.Context, n NewTip) (CommittedTip, error) {
	r := n.Report
	urgency := "normal"
	if r.Urgent {
		urgency = "urgent"
	}
	details, err := json.Marshal(r.Details)
	if err != nil {
		return CommittedTip{}, fmt.Errorf("commit tip: %w", err)
	}
	media := []flows.Media{}
	if r.Media != nil {
		media = r.Media
	}
	mediaJSON, err := json.Marshal(media)
	if err != nil {
		return CommittedTip{}, fmt.Errorf("commit tip: %w", err)
	}
	var c CommittedTip
	var notified string
	err = db.pool.QueryRow(ctx, sqlCommitTip,
		string(r.Reference), string(r.Kind), n.Channel, urgency, r.Category, r.Lang,
		n.SenderPseudonym, details, n.SourceMessageID, n.SealedHandle, r.Ack, mediaJSON, r.FollowUp,
	).Scan(&c.TipID, &c.Reference, &c.OutboxID, &notified)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return CommittedTip{}, ErrDuplicate
	case isUniqueViolation(err, "tips_reference_key"):
		return CommittedTip{}, ErrReferenceTaken
	case err != nil:
		return CommittedTip{}, fmt.Errorf("commit tip: %w", err)
	}
	return c, nil
}

const sqlTipByReference = `SELECT id, reference, kind, channel, status, urgency, COALESCE(category, ''), language, details, created_at
	FROM tips WHERE reference = $1`

// TipByReference finds a tip by its canonical reference code.
func (db *DB) TipByReference(ctx context.Context, ref string) (Tip, error) {
	var t Tip
	err := db.pool.QueryRow(ctx, sqlTipByReference, ref).Scan(
		&t.ID, &t.Reference, &t.Kind, &t.Channel, &t.Status, &t.Urgency, &t.Category, &t.Language, &t.Details, &t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Tip{}, ErrNotFound
	}
	if err != nil {
		return Tip{}, fmt.Errorf("tip by reference: %w", err)
	}
	return t, nil
}

const sqlOpenTips = `SELECT id, reference, kind, channel, status, urgency, COALESCE(category, ''), language, details, created_at
	FROM tips WHERE status IN ('new', 'in_review', 'verifying')
	ORDER BY urgency = 'urgent' DESC, created_at, id LIMIT $1`

// OpenTips lists the queue: urgent first, then oldest first.
func (db *DB) OpenTips(ctx context.Context, limit int) ([]Tip, error) {
	rows, err := db.pool.Query(ctx, sqlOpenTips, limit)
	if err != nil {
		return nil, fmt.Errorf("open tips: %w", err)
	}
	tips, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Tip, error) {
		var t Tip
		err := row.Scan(&t.ID, &t.Reference, &t.Kind, &t.Channel, &t.Status, &t.Urgency, &t.Category, &t.Language, &t.Details, &t.CreatedAt)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("open tips: %w", err)
	}
	return tips, nil
}

const sqlTipStatusForSender = `SELECT status FROM tips WHERE reference = $1 AND sender_pseudonym = $2`

// TipStatusForSender returns a tip's status only to the sender who made it;
// for anyone else it is ErrNotFound, exactly as for a code that does not exist.
func (db *DB) TipStatusForSender(ctx context.Context, ref, sender string) (string, error) {
	var status string
	err := db.pool.QueryRow(ctx, sqlTipStatusForSender, ref, sender).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("tip status: %w", err)
	}
	return status, nil
}
