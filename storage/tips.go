package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
	// Alert, if set, goes to the officers' group in the same transaction
	// (an urgent report).
	Alert *Alert
}

// Alert is a message to the officers' group: never free text from the
// reporter, never anything that identifies them.
type Alert struct {
	Channel   string
	Pseudonym string // of the group, for the seal's associated data
	Sealed    []byte // the group's chat ID, sealed
	Body      string
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
	// Distress is every message that raised a danger alert, word for word:
	// shown to officers first.
	Distress  []flows.Distress
	CreatedAt time.Time
	// Read by TipByReference only:
	ClaimedBy string        // the officer who took it, if anyone
	FollowUp  bool          // the reporter allowed messages
	Media     []flows.Media // attachments, by the provider's file IDs
	Complex   bool          // the decision clock runs 2 months
	Extended  bool          // and was extended once by 2 months
	Flag      Flag          // an officer's flag on the sender, in force (Kind "" if none)
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
), al AS (
	INSERT INTO outbox (tip_id, kind, channel, recipient_pseudonym, recipient_sealed, language, body)
	SELECT id, 'alert', $14, $15, $16, 'vi', $17 FROM t WHERE $17 <> ''
)
SELECT t.id, t.reference, o.id, pg_notify('outbox', o.id::text), pg_notify('tips', t.reference || ' new ' || $4)
FROM t, o`

// CommitTip commits a report and its acknowledgement together. It returns
// ErrDuplicate when the source message was committed before, and
// ErrReferenceTaken when the report's reference code already exists.
func (db *DB) CommitTip(ctx context.Context, n NewTip) (CommittedTip, error) {
	r := n.Report
	urgency := "normal"
	if r.Urgent {
		urgency = "urgent"
	}
	// The alarm messages travel inside details, as a list under "distress".
	all := make(map[string]any, len(r.Details)+1)
	for k, v := range r.Details {
		all[k] = v
	}
	if len(r.Distress) > 0 {
		all["distress"] = r.Distress
	}
	details, err := json.Marshal(all)
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
	alert := Alert{Sealed: []byte{}}
	if n.Alert != nil {
		alert = *n.Alert
	}
	var c CommittedTip
	var notified string
	err = db.pool.QueryRow(ctx, sqlCommitTip,
		string(r.Reference), string(r.Kind), n.Channel, urgency, r.Category, r.Lang,
		n.SenderPseudonym, details, n.SourceMessageID, n.SealedHandle, r.Ack, mediaJSON, r.FollowUp,
		alert.Channel, alert.Pseudonym, alert.Sealed, alert.Body,
	).Scan(&c.TipID, &c.Reference, &c.OutboxID, &notified, &notified)
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

const sqlTipByReference = `SELECT tips.id, reference, tips.kind, channel, status, urgency, COALESCE(category, ''), language,
	details - 'distress', COALESCE(details->'distress', '[]'::jsonb), created_at, COALESCE(claimed_by, ''), follow_up, media,
	complex, extended, COALESCE(sf.kind, ''), COALESCE(sf.reason, ''), COALESCE(sf.set_by, ''), COALESCE(sf.expires_at, 'epoch')
	FROM tips ` + activeFlag + ` WHERE reference = $1`

// TipByReference finds a tip by its canonical reference code.
func (db *DB) TipByReference(ctx context.Context, ref string) (Tip, error) {
	var t Tip
	err := db.pool.QueryRow(ctx, sqlTipByReference, ref).Scan(
		&t.ID, &t.Reference, &t.Kind, &t.Channel, &t.Status, &t.Urgency, &t.Category, &t.Language, &t.Details, &t.Distress,
		&t.CreatedAt, &t.ClaimedBy, &t.FollowUp, &t.Media, &t.Complex, &t.Extended,
		&t.Flag.Kind, &t.Flag.Reason, &t.Flag.SetBy, &t.Flag.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Tip{}, ErrNotFound
	}
	if err != nil {
		return Tip{}, fmt.Errorf("tip by reference: %w", err)
	}
	return t, nil
}

const sqlOpenTips = `SELECT id, reference, kind, channel, status, urgency, COALESCE(category, ''), language,
	details - 'distress', COALESCE(details->'distress', '[]'::jsonb), created_at
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
		err := row.Scan(&t.ID, &t.Reference, &t.Kind, &t.Channel, &t.Status, &t.Urgency, &t.Category, &t.Language, &t.Details,
			&t.Distress, &t.CreatedAt)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("open tips: %w", err)
	}
	return tips, nil
}

// A web chat sender lives only as long as a browser session, so a report
// made on the web answers to its code alone; its vague status is all it tells.
const sqlTipStatusForSender = `SELECT status FROM tips WHERE reference = $1 AND (sender_pseudonym = $2 OR channel = 'web')`

// TipStatusForSender returns a tip's status only to the sender who made it
// (or, for a report made in the web chat, to whoever has its code); for
// anyone else it is ErrNotFound, exactly as for a code that does not exist.
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

// ErrNoFollowUp means the reporter did not allow us to write to them.
var ErrNoFollowUp = errors.New("storage: the reporter did not allow follow-up messages")

// Statuses an officer may set.
var Statuses = []string{"new", "in_review", "verifying", "forwarded", "resolved", "unfounded", "duplicate"}

const sqlChangeTipStatus = `WITH old AS (
	SELECT id, status, follow_up FROM tips WHERE id = $1 FOR UPDATE
), t AS (
	UPDATE tips SET status = $2, updated_at = now() FROM old
	WHERE tips.id = old.id AND old.status <> $2
	RETURNING tips.id, old.status AS was, old.follow_up
), a AS (
	INSERT INTO audit_log (actor, action, tip_id, details)
	SELECT $3, 'tip.status_changed', id, jsonb_build_object('from', was, 'to', $2::text) FROM t
), n AS (
	INSERT INTO outbox (tip_id, kind, channel, recipient_pseudonym, recipient_sealed, language, body)
	SELECT ack.tip_id, 'status', ack.channel, ack.recipient_pseudonym, ack.recipient_sealed, ack.language, $4
	FROM t JOIN outbox ack ON ack.tip_id = t.id AND ack.kind = 'ack'
	WHERE $4 <> '' AND t.follow_up
	RETURNING id
)
SELECT (SELECT count(*) FROM old), (SELECT count(*) FROM t), (SELECT count(*) FROM n),
	(SELECT pg_notify('outbox', id::text) FROM n LIMIT 1), (SELECT pg_notify('tips', id::text || ' status') FROM t)`

// ChangeTipStatus sets a tip's status for an officer, audited. If notice is
// not empty, the reporter allowed follow-up and the status really changed,
// notice is queued to the reporter on the channel they used. It reports
// whether a notice was queued.
func (db *DB) ChangeTipStatus(ctx context.Context, tipID int64, status, officer, notice string) (bool, error) {
	if !slices.Contains(Statuses, status) {
		return false, fmt.Errorf("change tip status: %q is not a status", status)
	}
	var found, changed, queued int
	var ignored *string
	err := db.pool.QueryRow(ctx, sqlChangeTipStatus, tipID, status, officer, notice).Scan(&found, &changed, &queued, &ignored, &ignored)
	if err != nil {
		return false, fmt.Errorf("change tip status: %w", err)
	}
	if found == 0 {
		return false, ErrNotFound
	}
	return queued > 0, nil
}
