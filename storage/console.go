package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Officer is an account of the console.
type Officer struct {
	ID           int64
	Username     string
	Role         string // officer, supervisor, admin
	Unit         string
	PasswordHash string
	Disabled     bool
	Generation   int    // sessions made in an older generation are ended
	TOTPSecret   string // set: sign-in asks for a code too
}

const sqlOfficerByName = `SELECT id, username, role, COALESCE(unit, ''), password_hash, disabled, session_generation,
	COALESCE(totp_secret, '') FROM officers WHERE username = $1`

// OfficerByName finds an account, or ErrNotFound.
func (db *DB) OfficerByName(ctx context.Context, username string) (Officer, error) {
	var o Officer
	err := db.pool.QueryRow(ctx, sqlOfficerByName, username).Scan(&o.ID, &o.Username, &o.Role, &o.Unit, &o.PasswordHash,
		&o.Disabled, &o.Generation, &o.TOTPSecret)
	if errors.Is(err, pgx.ErrNoRows) {
		return Officer{}, ErrNotFound
	}
	if err == nil {
		o.TOTPSecret, err = db.openTOTP(o.Username, o.TOTPSecret)
	}
	if err != nil {
		return Officer{}, fmt.Errorf("officer: %w", err)
	}
	return o, nil
}

// SetOfficerDisabled disables or enables an account; either way its
// sessions end. Audited.
func (db *DB) SetOfficerDisabled(ctx context.Context, username string, disabled bool) error {
	action := "officer.enabled"
	if disabled {
		action = "officer.disabled"
	}
	return db.officerChange(ctx, username, action, `UPDATE officers SET disabled = $2, session_generation = session_generation + 1
		WHERE username = $1`, disabled)
}

// SetOfficerPassword sets a new password and ends every session. Audited.
func (db *DB) SetOfficerPassword(ctx context.Context, username, password string) error {
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	return db.officerChange(ctx, username, "officer.password_reset", `UPDATE officers SET password_hash = $2,
		session_generation = session_generation + 1 WHERE username = $1`, hash)
}

// ResetTOTP turns two-factor sign-in off for an officer who lost their
// phone, and ends every session: an administrator is then sent to turn it
// on again, with the new phone, at their next sign-in. Audited.
func (db *DB) ResetTOTP(ctx context.Context, username string) error {
	return db.officerChange(ctx, username, "officer.totp_reset", `UPDATE officers SET totp_secret = NULL, totp_last_step = 0,
		session_generation = session_generation + 1 WHERE username = $1`)
}

// officerChange runs sql on one officer ($1 the username, then args) and
// audits it as action.
func (db *DB) officerChange(ctx context.Context, username, action, sql string, args ...any) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, append([]any{username}, args...)...)
		if err != nil {
			return fmt.Errorf("%s: %w", action, err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		_, err = tx.Exec(ctx, `INSERT INTO audit_log (actor, action, details) VALUES ('system', $1, jsonb_build_object('username', $2::text))`,
			action, username)
		return err
	})
}

// SetTOTP turns two-factor sign-in on for an officer. Audited.
func (db *DB) SetTOTP(ctx context.Context, username, secret string) error {
	secret, err := db.sealTOTP(username, secret)
	if err != nil {
		return err
	}
	return db.officerChange(ctx, username, "officer.totp_enabled", `UPDATE officers SET totp_secret = $2, totp_last_step = 0
		WHERE username = $1`, secret)
}

// UseTOTPStep records that a code of this time step was used; false if one
// of this step or a later one was used before (a replayed code).
func (db *DB) UseTOTPStep(ctx context.Context, username string, step int64) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE officers SET totp_last_step = $2 WHERE username = $1 AND totp_last_step < $2`,
		username, step)
	if err != nil {
		return false, fmt.Errorf("totp step: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// EndSessions ends every session of an officer (log out everywhere).
func (db *DB) EndSessions(ctx context.Context, username string) error {
	_, err := db.pool.Exec(ctx, `UPDATE officers SET session_generation = session_generation + 1 WHERE username = $1`, username)
	if err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	return nil
}

// Audit records who did or saw what, from where. details must hold no
// personal data: IDs, codes, statuses.
func (db *DB) Audit(ctx context.Context, actor, action string, tipID int64, details map[string]string) error {
	if details == nil {
		details = map[string]string{}
	}
	raw, _ := json.Marshal(details)
	_, err := db.pool.Exec(ctx, `INSERT INTO audit_log (actor, action, tip_id, details) VALUES ($1, $2, NULLIF($3, 0), $4)`,
		actor, action, tipID, raw)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// QueueFilter narrows the queue; empty fields do not filter.
type QueueFilter struct {
	Status, Kind, Channel string
	Mine                  string // only reports taken by this officer
	Unit                  string // only reports referred to this unit
	Limit                 int
}

// QueueItem is one row of the queue.
type QueueItem struct {
	ID        int64
	Reference string
	Kind      string
	Channel   string
	Status    string
	Urgency   string
	Category  string
	ClaimedBy string
	CreatedAt time.Time
	Distress  bool // words that raised an alarm are kept with it
	Complex   bool // the decision clock runs 2 months
	Extended  bool // and was extended once by 2 months
	Flag      Flag // an officer's flag on the sender, in force (Kind "" if none)
	// Unfinished: filed for a person who called for help and went silent
	// (its source key is the alarm's).
	Unfinished bool
}

// Open statuses: what still waits for someone.
var openStatuses = []string{"new", "in_review", "verifying"}

const sqlQueue = `SELECT tips.id, reference, tips.kind, channel, status, urgency, COALESCE(category, ''), COALESCE(claimed_by, ''),
	created_at, tips.distress, complex, extended,
	COALESCE(sf.kind, ''), COALESCE(sf.reason, ''), COALESCE(sf.set_by, ''), COALESCE(sf.expires_at, 'epoch'),
	source_message_id LIKE 'alarm:%'
FROM tips ` + activeFlag + `
WHERE ($1 = '' AND status = ANY($6) OR status = $1)
  AND ($2 = '' OR tips.kind = $2) AND ($3 = '' OR channel = $3) AND ($4 = '' OR claimed_by = $4)
  AND ($7 = '' OR EXISTS (SELECT 1 FROM referrals r JOIN units u ON u.id = r.unit_id WHERE r.tip_id = tips.id AND u.name = $7))
ORDER BY ` + queueOrder + `
LIMIT $5`

// queueOrder: urgent first; within the same urgency a flagged sender's
// reports after the others (an urgent one still above every normal one, so
// it is still seen soon); then oldest.
const queueOrder = `urgency = 'urgent' DESC, sf.pseudonym IS NOT NULL, created_at, tips.id`

// Queue lists reports for triage: urgent first, then oldest; by default the
// open ones.
func (db *DB) Queue(ctx context.Context, f QueueFilter) ([]QueueItem, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 200
	}
	status := f.Status
	open := openStatuses
	if f.Unit != "" && status == "" {
		open = Statuses // a unit works what was handed to it, forwarded or not
	}
	rows, err := db.pool.Query(ctx, sqlQueue, status, f.Kind, f.Channel, f.Mine, f.Limit, open, f.Unit)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (QueueItem, error) {
		var q QueueItem
		err := r.Scan(&q.ID, &q.Reference, &q.Kind, &q.Channel, &q.Status, &q.Urgency, &q.Category, &q.ClaimedBy,
			&q.CreatedAt, &q.Distress, &q.Complex, &q.Extended, &q.Flag.Kind, &q.Flag.Reason, &q.Flag.SetBy, &q.Flag.ExpiresAt, &q.Unfinished)
		return q, err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return items, nil
}

// QueueCounts counts reports by status: all of them, or (unit not empty)
// those referred to that unit, which is all its officers may know of.
func (db *DB) QueueCounts(ctx context.Context, unit string) (map[string]int, error) {
	rows, err := db.pool.Query(ctx, `SELECT status, count(*) FROM tips
		WHERE $1 = '' OR EXISTS (SELECT 1 FROM referrals r JOIN units u ON u.id = r.unit_id WHERE r.tip_id = tips.id AND u.name = $1)
		GROUP BY status`, unit)
	if err != nil {
		return nil, fmt.Errorf("queue counts: %w", err)
	}
	counts := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("queue counts: %w", err)
		}
		counts[s] = n
	}
	return counts, rows.Err()
}

// sqlClaimNext takes the most pressing open report nobody has, in the
// queue's order. SKIP LOCKED: two officers never get the same one.
const sqlClaimNext = `WITH next AS (
	SELECT tips.id FROM tips ` + activeFlag + ` WHERE status = ANY($2) AND claimed_by IS NULL
	ORDER BY ` + queueOrder + `
	FOR UPDATE OF tips SKIP LOCKED LIMIT 1
), t AS (
	UPDATE tips SET claimed_by = $1, claimed_at = now(),
		status = CASE WHEN status = 'new' THEN 'in_review' ELSE status END, updated_at = now()
	FROM next WHERE tips.id = next.id
	RETURNING tips.id, tips.reference
), a AS (
	INSERT INTO audit_log (actor, action, tip_id) SELECT $1, 'tip.claimed', id FROM t
)
SELECT id, reference, pg_notify('tips', reference || ' claimed') FROM t`

// ClaimNext gives an officer the next report, or ErrNotFound when none waits.
func (db *DB) ClaimNext(ctx context.Context, officer string) (int64, string, error) {
	var id int64
	var ref string
	var ignored string
	err := db.pool.QueryRow(ctx, sqlClaimNext, officer, openStatuses).Scan(&id, &ref, &ignored)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", ErrNotFound
	}
	if err != nil {
		return 0, "", fmt.Errorf("claim next: %w", err)
	}
	return id, ref, nil
}

const sqlClaim = `WITH t AS (
	UPDATE tips SET claimed_by = $2, claimed_at = now(),
		status = CASE WHEN status = 'new' THEN 'in_review' ELSE status END, updated_at = now()
	WHERE id = $1 AND (claimed_by IS NULL OR claimed_by = $2)
	RETURNING id, reference
), a AS (
	INSERT INTO audit_log (actor, action, tip_id) SELECT $2, 'tip.claimed', id FROM t
), n AS (
	SELECT pg_notify('tips', reference || ' claimed') FROM t
)
SELECT (SELECT count(*) FROM t), (SELECT COALESCE(claimed_by, '') FROM tips WHERE id = $1), (SELECT count(*) FROM n)`

// Claim gives one report to an officer: ErrConflict if a colleague has it,
// ErrNotFound if there is no such report.
func (db *DB) Claim(ctx context.Context, tipID int64, officer string) error {
	var took, notified int
	var holder *string
	if err := db.pool.QueryRow(ctx, sqlClaim, tipID, officer).Scan(&took, &holder, &notified); err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	switch {
	case holder == nil:
		return ErrNotFound
	case took == 0:
		return ErrConflict
	}
	return nil
}

// Release gives a report back to the queue (only its holder can).
func (db *DB) Release(ctx context.Context, tipID int64, officer string) error {
	tag, err := db.pool.Exec(ctx, `WITH t AS (
		UPDATE tips SET claimed_by = NULL, claimed_at = NULL, updated_at = now() WHERE id = $1 AND claimed_by = $2 RETURNING id
	) INSERT INTO audit_log (actor, action, tip_id) SELECT $2, 'tip.released', id FROM t`, tipID, officer)
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrConflict
	}
	return nil
}

// Event is one line of a report's timeline.
type Event struct {
	At      time.Time
	Actor   string
	Action  string
	Details map[string]string
}

// TipEvents lists a report's audit trail, oldest first.
func (db *DB) TipEvents(ctx context.Context, tipID int64) ([]Event, error) {
	rows, err := db.pool.Query(ctx, `SELECT a.at, a.actor, a.action, `+sqlEventDetails+`
		FROM audit_log a WHERE a.tip_id = $1 ORDER BY a.at, a.id`, tipID)
	if err != nil {
		return nil, fmt.Errorf("tip events: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		var raw []byte
		if err := r.Scan(&e.At, &e.Actor, &e.Action, &raw); err != nil {
			return e, err
		}
		e.Details = eventDetails(raw)
		return e, nil
	})
}

// sqlEventDetails is an audit entry's details (of audit_log a), with the
// name of the unit it names by ID (unit_name): the trail keeps the ID,
// which stays true when a unit is renamed; an officer reads the name.
const sqlEventDetails = `a.details || COALESCE((SELECT jsonb_build_object('unit_name', u.name) FROM units u
	WHERE jsonb_typeof(a.details->'unit') = 'number' AND u.id = (a.details->>'unit')::bigint), '{}'::jsonb)`

// eventDetails reads an audit entry's details as text: a list as its items
// joined by commas.
func eventDetails(raw []byte) map[string]string {
	d := map[string]string{}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return d
	}
	for k, v := range m {
		if list, ok := v.([]any); ok {
			items := make([]string, len(list))
			for i, item := range list {
				items[i] = fmt.Sprint(item)
			}
			d[k] = strings.Join(items, ",")
			continue
		}
		d[k] = fmt.Sprint(v)
	}
	return d
}

// Listen runs fn for every notification on channel until ctx ends or the
// connection fails (the caller retries). It holds a connection of its own:
// one that has run LISTEN must not go back to the pool.
func (db *DB) Listen(ctx context.Context, channel string, fn func(payload string)) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	if _, err := pc.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	for {
		n, err := pc.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		fn(n.Payload)
	}
}

// Officers lists the accounts, by name.
func (db *DB) Officers(ctx context.Context) ([]Officer, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, username, role, COALESCE(unit, ''), '', disabled, session_generation,
		CASE WHEN totp_secret IS NULL THEN '' ELSE 'set' END FROM officers ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("officers: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Officer])
}

// Assign gives a report to an officer, whoever had it: a supervisor's call.
// Audited.
func (db *DB) Assign(ctx context.Context, tipID int64, to, by string) error {
	tag, err := db.pool.Exec(ctx, `WITH t AS (
		UPDATE tips SET claimed_by = $2, claimed_at = now(),
			status = CASE WHEN status = 'new' THEN 'in_review' ELSE status END, updated_at = now()
		WHERE id = $1 AND EXISTS (SELECT 1 FROM officers WHERE username = $2 AND NOT disabled)
		RETURNING id, reference
	), a AS (
		INSERT INTO audit_log (actor, action, tip_id, details) SELECT $3, 'tip.assigned', id, jsonb_build_object('to', $2::text) FROM t
	) SELECT pg_notify('tips', reference || ' claimed') FROM t`, tipID, to, by)
	if err != nil {
		return fmt.Errorf("assign: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// MarkDuplicate records that a report repeats another (by its ID).
func (db *DB) MarkDuplicate(ctx context.Context, tipID, of int64) error {
	_, err := db.pool.Exec(ctx, `UPDATE tips SET duplicate_of = $2 WHERE id = $1 AND $1 <> $2`, tipID, of)
	if err != nil {
		return fmt.Errorf("mark duplicate: %w", err)
	}
	return nil
}

// Duplicates lists the references of reports closed as repeating tipID, and
// the reference tipID repeats, if any.
func (db *DB) Duplicates(ctx context.Context, tipID int64) (dups []string, of string, err error) {
	rows, err := db.pool.Query(ctx, `SELECT reference FROM tips WHERE duplicate_of = $1 ORDER BY id`, tipID)
	if err != nil {
		return nil, "", fmt.Errorf("duplicates: %w", err)
	}
	if dups, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, "", fmt.Errorf("duplicates: %w", err)
	}
	err = db.pool.QueryRow(ctx, `SELECT COALESCE((SELECT o.reference FROM tips t JOIN tips o ON o.id = t.duplicate_of WHERE t.id = $1), '')`,
		tipID).Scan(&of)
	if err != nil {
		return nil, "", fmt.Errorf("duplicates: %w", err)
	}
	return dups, of, nil
}

// SenderTip is another report of the same sender on the same channel, as
// the console links them: a person who called for help, went silent and
// came back sends twice; a family writes again. It says nothing of who the
// sender is (their pseudonym is all that joins them).
type SenderTip struct {
	Reference string
	Kind      string
	Status    string
	Urgency   string
	CreatedAt time.Time
	// Unfinished: filed for them after they went silent (see Queued).
	Unfinished bool
}

// SameSender lists the other reports of a report's sender on its channel,
// newest first, at most 20. Erased reports are left out, either side: an
// erasure leaves nothing that says whose a report was.
func (db *DB) SameSender(ctx context.Context, tipID int64) ([]SenderTip, error) {
	rows, err := db.pool.Query(ctx, `SELECT o.reference, o.kind, o.status, o.urgency, o.created_at,
			o.source_message_id LIKE 'alarm:%'
		FROM tips t JOIN tips o ON o.sender_pseudonym = t.sender_pseudonym AND o.channel = t.channel AND o.id <> t.id
		WHERE t.id = $1 AND t.sender_pseudonym <> '' AND t.erased_at IS NULL AND o.erased_at IS NULL
		ORDER BY o.created_at DESC, o.id DESC LIMIT 20`, tipID)
	if err != nil {
		return nil, fmt.Errorf("same sender: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[SenderTip])
}

// AuditFilter narrows the audit log; empty fields do not filter.
type AuditFilter struct {
	Actor, Action string
	TipID         int64
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	Event
	Reference string
}

// AuditLog lists the newest audit entries matching the filter (at most 300).
func (db *DB) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	rows, err := db.pool.Query(ctx, `SELECT a.at, a.actor, a.action, `+sqlEventDetails+`, COALESCE(t.reference, '')
		FROM audit_log a LEFT JOIN tips t ON t.id = a.tip_id
		WHERE ($1 = '' OR a.actor = $1) AND ($2 = '' OR a.action LIKE $2 || '%') AND ($3 = 0 OR a.tip_id = $3)
		ORDER BY a.at DESC, a.id DESC LIMIT 300`, f.Actor, f.Action, f.TipID)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		var raw []byte
		if err := r.Scan(&e.At, &e.Actor, &e.Action, &raw, &e.Reference); err != nil {
			return e, err
		}
		e.Details = eventDetails(raw)
		return e, nil
	})
}

// SetDecisionClock marks a report complex (2 months to decide) or extended
// (once, 2 months more). Audited.
func (db *DB) SetDecisionClock(ctx context.Context, tipID int64, what, by string) error {
	column := map[string]string{"complex": "complex", "extend": "extended"}[what]
	if column == "" {
		return fmt.Errorf("decision clock: %q", what)
	}
	tag, err := db.pool.Exec(ctx, `WITH t AS (
		UPDATE tips SET `+column+` = true, updated_at = now() WHERE id = $1 AND NOT `+column+`
			AND ($3 <> 'extend' OR complex)
		RETURNING id
	) INSERT INTO audit_log (actor, action, tip_id) SELECT $2, 'tip.clock_'||$3, id FROM t`, tipID, by, what)
	if err != nil {
		return fmt.Errorf("decision clock: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrConflict
	}
	return nil
}
