package storage

import (
	"context"
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
	// Handle is the raw address to write back (a chat ID, a phone number):
	// it is stored only sealed under the report's own data key.
	Handle string
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
	Erased    bool          // its data key is destroyed: nothing personal is left
	Flag      Flag          // an officer's flag on the sender, in force (Kind "" if none)
	// SharingWithdrawn is when the person withdrew the consent to share
	// the report with support services (a data request); nil: never.
	SharingWithdrawn *time.Time
}

// CommittedTip is what CommitTip returns.
type CommittedTip struct {
	TipID     int64
	Reference string
	OutboxID  int64
}

// sqlCommitTip writes the tip, its acknowledgement in the outbox, an audit row,
// its attachments (a web upload moves from pending_media, sealed again
// under the report's key) and a wake-up for the dispatcher in one
// statement: one round trip. A replayed source message, or a reference code
// already taken, inserts nothing and returns no row (commitOutcome tells
// which): never an error, so that one such report cannot abort the
// transaction it shares with others (group commit, commit.go).
const sqlCommitTip = `WITH t AS (
	INSERT INTO tips (reference, kind, channel, urgency, category, language, sender_pseudonym, source_message_id,
		follow_up, sealed, distress, created_at)
	VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6, $7, $8, $11, $16, $17, LEAST(COALESCE($32::timestamptz, now()), now()))
	ON CONFLICT DO NOTHING
	RETURNING id, reference
), k AS (
	INSERT INTO data_keys (tip_id, wrapped) SELECT id, $18 FROM t
), o AS (
	INSERT INTO outbox (tip_id, kind, channel, recipient_pseudonym, recipient_sealed, language, body, status)
	SELECT id, 'ack', $3, $7, $9, $6, $10, CASE WHEN $10 = '' THEN 'withheld' ELSE 'queued' END FROM t
	RETURNING id
), a AS (
	INSERT INTO audit_log (actor, action, tip_id, details)
	SELECT 'system', 'tip.created', id, jsonb_build_object('channel', $3::text) FROM t
), al AS (
	INSERT INTO outbox (tip_id, kind, channel, recipient_pseudonym, recipient_sealed, language, body)
	SELECT id, 'alert', $12, $13, $14, 'vi', $15 FROM t WHERE $15 <> ''
), md AS (
	INSERT INTO tip_media (tip_id, ordinal, kind, content_type, size, width, height, status, no_preview,
		source_sealed, sha256_sealed, original_sealed, clean_sealed, fetched_at)
	SELECT t.id, m.ord, m.kind, m.ct, m.size, NULLIF(m.w, 0), NULLIF(m.h, 0), m.status, NULLIF(m.np, ''),
		m.src, m.sha, m.orig, m.clean, CASE WHEN m.status = 'pending' THEN NULL ELSE now() END
	FROM t, unnest($19::int[], $20::text[], $21::text[], $22::bigint[], $23::int[], $24::int[], $25::text[], $26::text[],
		$27::bytea[], $28::bytea[], $29::bytea[], $30::bytea[]) AS m(ord, kind, ct, size, w, h, status, np, src, sha, orig, clean)
), pd AS (
	DELETE FROM pending_media WHERE id = ANY($31::text[]) AND sender_pseudonym = $7 AND EXISTS (SELECT 1 FROM t)
), al2 AS (
	-- The sender's cry is answered by this report: their watch closes, so
	-- that a new cry after it opens its own (it met the open one and was
	-- never filed, paged or shown: review). A silence filing closes its
	-- own alarm as filed (bot.Runner.sweep).
	UPDATE alarms SET settled_at = now(), outcome = 'reported'
	WHERE channel = $3 AND sender_pseudonym = $7 AND settled_at IS NULL AND $8 NOT LIKE 'alarm:%' AND EXISTS (SELECT 1 FROM t)
)
SELECT t.id, t.reference, o.id, pg_notify('outbox', o.id::text), pg_notify('tips', t.reference || ' new ' || $4)
FROM t, o`

// CommitTip commits a report and its acknowledgement together. It returns
// ErrDuplicate when the source message was committed before, and
// ErrReferenceTaken when the report's reference code already exists.
//
// Reports committed at the same moment share one transaction and one fsync
// (see commit.go); each caller still gets its own result. When ctx ends
// first CommitTip returns its error, but a report already on its way to
// Postgres is committed all the same: a retry with the same source message
// then finds it (ErrDuplicate), as after any lost answer.
func (db *DB) CommitTip(ctx context.Context, n NewTip) (CommittedTip, error) {
	args, err := db.commitArgs(ctx, n)
	if err != nil {
		return CommittedTip{}, err
	}
	return db.group.commit(ctx, &commitRequest{ctx: ctx, args: args, channel: n.Channel, source: n.SourceMessageID})
}

// commitArgs seals the report and lays out sqlCommitTip's parameters; it
// runs in the caller's goroutine, so sealing is never serialised behind the
// commit loop.
func (db *DB) commitArgs(ctx context.Context, n NewTip) ([]any, error) {
	r := n.Report
	urgency := "normal"
	if r.Urgent {
		urgency = "urgent"
	}
	sealed, err := db.sealTip(n)
	if err != nil {
		return nil, fmt.Errorf("commit tip: %w", err)
	}
	m, err := db.sealMedia(ctx, sealed.dk, n)
	if err != nil {
		return nil, fmt.Errorf("commit tip: %w", err)
	}
	alert := Alert{Sealed: []byte{}}
	if n.Alert != nil {
		alert = *n.Alert
	}
	var since *time.Time // when the person first asked, if before now
	if !r.Since.IsZero() {
		since = &r.Since
	}
	return []any{
		string(r.Reference), string(r.Kind), n.Channel, urgency, r.Category, r.Lang,
		n.SenderPseudonym, n.SourceMessageID, sealed.handle, r.Ack, r.FollowUp,
		alert.Channel, alert.Pseudonym, alert.Sealed, alert.Body,
		sealed.fields, len(r.Distress) > 0, sealed.wrapped,
		m.ordinal, m.kind, m.contentType, m.size, m.width, m.height, m.status, m.noPreview,
		m.source, m.sha, m.original, m.clean, m.uploads, since,
	}, nil
}

// tipColumns are read by TipByReference and OpenTips: the clear columns of
// reports made before sealing, the sealed copy and its wrapped data key, and
// the sender's flag in force.
const tipColumns = `tips.id, tips.reference, tips.kind, tips.channel, tips.status, tips.urgency, COALESCE(tips.category, ''),
	tips.language, tips.details - 'distress', COALESCE(tips.details->'distress', '[]'::jsonb), tips.created_at,
	COALESCE(tips.claimed_by, ''), tips.follow_up, tips.media, tips.complex, tips.extended, tips.erased_at IS NOT NULL,
	tips.sharing_withdrawn_at, tips.sealed, k.wrapped,
	COALESCE(sf.kind, ''), COALESCE(sf.reason, ''), COALESCE(sf.set_by, ''), COALESCE(sf.expires_at, 'epoch')`

// tipsWithKeys is what tipColumns are read from.
const tipsWithKeys = `tips LEFT JOIN data_keys k ON k.tip_id = tips.id ` + activeFlag

const sqlTipByReference = `SELECT ` + tipColumns + ` FROM ` + tipsWithKeys + ` WHERE tips.reference = $1`

func (db *DB) scanTip(row pgx.Row) (Tip, error) {
	var t Tip
	var sealed, wrapped []byte
	err := row.Scan(&t.ID, &t.Reference, &t.Kind, &t.Channel, &t.Status, &t.Urgency, &t.Category, &t.Language,
		&t.Details, &t.Distress, &t.CreatedAt, &t.ClaimedBy, &t.FollowUp, &t.Media, &t.Complex, &t.Extended, &t.Erased,
		&t.SharingWithdrawn, &sealed, &wrapped, &t.Flag.Kind, &t.Flag.Reason, &t.Flag.SetBy, &t.Flag.ExpiresAt)
	if err != nil {
		return Tip{}, err
	}
	if t.Erased {
		return t, nil
	}
	return t, db.openFields(&t, wrapped, sealed)
}

// TipByReference finds a tip by its canonical reference code, its personal
// fields opened with its data key.
func (db *DB) TipByReference(ctx context.Context, ref string) (Tip, error) {
	t, err := db.scanTip(db.pool.QueryRow(ctx, sqlTipByReference, ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return Tip{}, ErrNotFound
	}
	if err != nil {
		return Tip{}, fmt.Errorf("tip by reference: %w", err)
	}
	return t, nil
}

const sqlOpenTips = `SELECT ` + tipColumns + ` FROM ` + tipsWithKeys + `
	WHERE tips.status IN ('new', 'in_review', 'verifying')
	ORDER BY tips.urgency = 'urgent' DESC, tips.created_at, tips.id LIMIT $1`

// OpenTips lists the queue: urgent first, then oldest first.
func (db *DB) OpenTips(ctx context.Context, limit int) ([]Tip, error) {
	rows, err := db.pool.Query(ctx, sqlOpenTips, limit)
	if err != nil {
		return nil, fmt.Errorf("open tips: %w", err)
	}
	tips, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Tip, error) { return db.scanTip(row) })
	if err != nil {
		return nil, fmt.Errorf("open tips: %w", err)
	}
	return tips, nil
}

// A web chat sender lives only as long as a browser session, so a report
// made on the web answers to its code alone; its vague status is all it tells.
const sqlTipStatusForSender = `SELECT status FROM tips WHERE reference = $1 AND (sender_pseudonym = ANY($2) OR channel = 'web')`

// TipStatusForSender returns a tip's status only to the sender who made it,
// under any of their pseudonyms (owners: the same phone through either SMS
// provider), or, for a report made in the web chat, to whoever has its
// code; for anyone else it is ErrNotFound, exactly as for a code that does
// not exist.
func (db *DB) TipStatusForSender(ctx context.Context, ref string, owners []string) (string, error) {
	var status string
	err := db.pool.QueryRow(ctx, sqlTipStatusForSender, ref, owners).Scan(&status)
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

// ErrNotReferred means a report cannot be forwarded: it was referred to no
// unit.
var ErrNotReferred = errors.New("storage: the report was referred to no unit")

// Statuses an officer may set.
var Statuses = []string{"new", "in_review", "verifying", "forwarded", "resolved", "unfounded", "duplicate"}

// A report is forwarded only once it was referred to a unit: the check is
// in the statement itself, under the report's row lock, and referrals are
// never deleted, so no request races past it.
const sqlChangeTipStatus = `WITH old AS (
	SELECT id, status, follow_up,
		$2 <> 'forwarded' OR EXISTS (SELECT 1 FROM referrals r WHERE r.tip_id = tips.id) AS may
	FROM tips WHERE id = $1 FOR UPDATE
), t AS (
	UPDATE tips SET status = $2, updated_at = now() FROM old
	WHERE tips.id = old.id AND old.status <> $2 AND old.may
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
SELECT (SELECT count(*) FROM old), (SELECT count(*) FROM old WHERE NOT may AND status <> $2), (SELECT count(*) FROM n),
	(SELECT pg_notify('outbox', id::text) FROM n LIMIT 1), (SELECT pg_notify('tips', id::text || ' status') FROM t)`

// ChangeTipStatus sets a tip's status for an officer, audited. If notice is
// not empty, the reporter allowed follow-up and the status really changed,
// notice is queued to the reporter on the channel they used. It reports
// whether a notice was queued. Moving a report to "forwarded" before it was
// referred to any unit changes nothing and returns ErrNotReferred.
func (db *DB) ChangeTipStatus(ctx context.Context, tipID int64, status, officer, notice string) (bool, error) {
	if !slices.Contains(Statuses, status) {
		return false, fmt.Errorf("change tip status: %q is not a status", status)
	}
	return changeTipStatus(ctx, db.pool, tipID, status, officer, notice)
}

func changeTipStatus(ctx context.Context, q rowQuerier, tipID int64, status, officer, notice string) (bool, error) {
	var found, refused, queued int
	var ignored *string
	err := q.QueryRow(ctx, sqlChangeTipStatus, tipID, status, officer, notice).Scan(&found, &refused, &queued, &ignored, &ignored)
	if err != nil {
		return false, fmt.Errorf("change tip status: %w", err)
	}
	if found == 0 {
		return false, ErrNotFound
	}
	if refused > 0 {
		return false, ErrNotReferred
	}
	return queued > 0, nil
}
