package storage

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// FlagKinds are the flags an officer may set on a sender.
var FlagKinds = []string{"spam", "abusive"}

// Flag is an officer's flag on a report's sender, while it lasts. The
// console shows it beside the report; the sender stays unknown.
type Flag struct {
	Kind      string
	Reason    string
	SetBy     string
	ExpiresAt time.Time
}

// activeFlag is the join the queue and a report's page read: the sender's
// flag if it has not expired.
const activeFlag = `LEFT JOIN sender_flags sf ON sf.pseudonym = tips.sender_pseudonym AND sf.expires_at > now()`

// sqlSetFlag flags the sender of a report, found by the report: an officer
// never handles the pseudonym itself. Audited with the kind and the expiry
// (the reason stays in sender_flags: it is free text).
const sqlSetFlag = `WITH t AS (
	SELECT id, sender_pseudonym FROM tips WHERE id = $1
), f AS (
	INSERT INTO sender_flags (pseudonym, kind, reason, set_by, expires_at)
	SELECT sender_pseudonym, $2, $3, $4, now() + make_interval(days => $5) FROM t
	ON CONFLICT (pseudonym) DO UPDATE SET kind = excluded.kind, reason = excluded.reason, set_by = excluded.set_by,
		set_at = now(), expires_at = excluded.expires_at
	RETURNING expires_at
)
INSERT INTO audit_log (actor, action, tip_id, details)
SELECT $4, 'sender.flagged', t.id, jsonb_build_object('kind', $2::text, 'days', $5::int, 'until', f.expires_at) FROM t, f`

// MaxFlagDays bounds a flag: it must run out.
const MaxFlagDays = 90

// SetSenderFlag flags the sender of report tipID for days, with a reason.
// Their reports are still taken and queued. Audited.
func (db *DB) SetSenderFlag(ctx context.Context, tipID int64, kind, reason, by string, days int) error {
	if !slices.Contains(FlagKinds, kind) || reason == "" || days < 1 || days > MaxFlagDays {
		return fmt.Errorf("set sender flag: %q for %d days", kind, days)
	}
	tag, err := db.pool.Exec(ctx, sqlSetFlag, tipID, kind, reason, by, days)
	if err != nil {
		return fmt.Errorf("set sender flag: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// ClearSenderFlag removes the flag on the sender of report tipID: ErrNotFound
// if none is in force. Audited.
func (db *DB) ClearSenderFlag(ctx context.Context, tipID int64, by string) error {
	tag, err := db.pool.Exec(ctx, `WITH f AS (
		DELETE FROM sender_flags WHERE pseudonym = (SELECT sender_pseudonym FROM tips WHERE id = $1) AND expires_at > now()
		RETURNING kind
	) INSERT INTO audit_log (actor, action, tip_id, details)
	SELECT $2, 'sender.unflagged', $1, jsonb_build_object('kind', kind) FROM f`, tipID, by)
	if err != nil {
		return fmt.Errorf("clear sender flag: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
