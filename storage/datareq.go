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

// vietnamTime is the time the law's working days are counted in: UTC+7 all
// year.
var vietnamTime = time.FixedZone("ICT", 7*60*60)

// DataRequestDays is how many working days a data request may wait for its
// answer (Decree 356/2025).
const DataRequestDays = 2

// WorkingDaysAfter is n working days after t, Saturdays and Sundays not
// counted, in Vietnam time: a request made on a Friday afternoon is due on
// Tuesday afternoon. One made on a weekend counts from the start of Monday,
// so it is due when Tuesday ends. Public holidays are not known here.
func WorkingDaysAfter(t time.Time, n int) time.Time {
	d := t.In(vietnamTime)
	for weekend(d) {
		d = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, vietnamTime)
	}
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		if !weekend(d) {
			n--
		}
	}
	return d
}

func weekend(t time.Time) bool { return t.Weekday() == time.Saturday || t.Weekday() == time.Sunday }

// NewDataRequest is a request someone made with a report's code.
type NewDataRequest struct {
	Reference string
	Kind      string // flows.DataAccess, …
	Channel   string
	// Requester is the sender's pseudonym; Sealed their handle, sealed by a
	// master key (identity.Keyring.Seal), kept only while the request waits
	// so that the decision can be told.
	Requester string
	// Owners may act on a report they made: the requester under each of
	// their pseudonyms (the same phone through either SMS provider); empty
	// means the requester alone.
	Owners          []string
	Sealed          []byte
	Language        string
	SourceMessageID string
	At              time.Time // when it came; zero: now
}

// DataRequest is a row of data_requests, with its report's code.
type DataRequest struct {
	ID        int64
	TipID     int64
	Reference string
	Kind      string
	Status    string // pending, done, refused
	Channel   string
	Language  string
	CreatedAt time.Time
	DueAt     time.Time
	DecidedAt *time.Time
	DecidedBy string
	Reason    string
}

// settledAtOnce are the requests done the moment they are made: seeing the
// summary, and no more messages. The others wait for a person.
var settledAtOnce = []string{flows.DataAccess, flows.DataWithdrawFollowUp}

// sqlDataRequestTip finds the report a requester may act on: the one they
// made, or, as for a status lookup, one made in the web chat, whose sender
// lived only as long as a browser session and has nothing but the code.
const sqlDataRequestTip = `SELECT id, erased_at IS NOT NULL FROM tips
WHERE reference = $1 AND (sender_pseudonym = ANY($2) OR channel = 'web') FOR UPDATE`

const sqlInsertDataRequest = `INSERT INTO data_requests (tip_id, kind, status, channel, requester_pseudonym, requester_sealed,
	language, source_message_id, created_at, due_at, decided_at, decided_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $3 = 'done' THEN $9::timestamptz END,
	CASE WHEN $3 = 'done' THEN 'system' END)
ON CONFLICT DO NOTHING
RETURNING id`

// RecordDataRequest records a request about a report and applies what
// takes effect at once: follow-up consent withdrawn (no more messages, the
// handles on the report's messages cleared), sharing consent withdrawn (no
// new referrals to support services). It returns ErrNotFound, recording
// nothing, for a code that does not exist and for a report the requester
// may not act on: the caller answers both as if recorded. A request already
// waiting, or the same message again, records nothing new. For an access
// request it returns what we hold.
func (db *DB) RecordDataRequest(ctx context.Context, n NewDataRequest) (*flows.Holding, error) {
	if !slices.Contains(flows.DataKinds, n.Kind) {
		return nil, fmt.Errorf("record data request: %q is not a kind", n.Kind)
	}
	if n.At.IsZero() {
		n.At = time.Now()
	}
	owners := n.Owners
	if len(owners) == 0 {
		owners = []string{n.Requester}
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var tipID int64
		var erased bool
		if err := tx.QueryRow(ctx, sqlDataRequestTip, n.Reference, owners).Scan(&tipID, &erased); err != nil {
			return err
		}
		status, sealed := "pending", n.Sealed
		if slices.Contains(settledAtOnce, n.Kind) || erased {
			status, sealed = "done", nil // nothing to answer later: the handle is not kept
		}
		var id int64
		err := tx.QueryRow(ctx, sqlInsertDataRequest, tipID, n.Kind, status, n.Channel, n.Requester, sealed, n.Language,
			n.SourceMessageID, n.At, WorkingDaysAfter(n.At, DataRequestDays)).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // asked before: nothing new
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_log (actor, action, tip_id, details) VALUES ('reporter', 'datareq.received', $1,
			jsonb_build_object('request', $2::bigint, 'kind', $3::text, 'status', $4::text, 'channel', $5::text))`,
			tipID, id, n.Kind, status, n.Channel); err != nil {
			return err
		}
		if erased {
			return nil
		}
		return withdrawAtOnce(ctx, tx, tipID, n.Kind)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("record data request: %w", err)
	}
	if n.Kind != flows.DataAccess {
		return nil, nil
	}
	h, err := db.Holding(ctx, n.Reference)
	if err != nil {
		return nil, fmt.Errorf("record data request: %w", err)
	}
	return &h, nil
}

// sqlWithdrawFollowUp stops every message to the person about a report: no
// follow-up allowed, the handles on its messages cleared (the officers'
// group's alerts and answers to data requests excepted), and what was still
// waiting to go out cancelled.
const sqlWithdrawFollowUp = `WITH t AS (
	UPDATE tips SET follow_up = false, updated_at = now() WHERE id = $1 RETURNING id
), o AS (
	UPDATE outbox SET recipient_sealed = '\x'::bytea,
		status = CASE WHEN status = 'queued' THEN 'undeliverable' ELSE status END,
		last_error = CASE WHEN status = 'queued' THEN 'consent withdrawn' ELSE last_error END,
		failed_at = CASE WHEN status = 'queued' THEN now() ELSE failed_at END
	WHERE tip_id IN (SELECT id FROM t) AND kind NOT IN ('alert', 'datareq')
)
INSERT INTO audit_log (actor, action, tip_id) SELECT 'reporter', 'tip.followup_withdrawn', id FROM t`

const sqlWithdrawSharing = `WITH t AS (
	UPDATE tips SET sharing_withdrawn_at = COALESCE(sharing_withdrawn_at, now()), updated_at = now() WHERE id = $1 RETURNING id
)
INSERT INTO audit_log (actor, action, tip_id) SELECT 'reporter', 'tip.sharing_withdrawn', id FROM t`

// withdrawAtOnce applies a withdrawn consent the moment it is asked.
func withdrawAtOnce(ctx context.Context, tx pgx.Tx, tipID int64, kind string) error {
	var sql string
	switch kind {
	case flows.DataWithdrawFollowUp:
		sql = sqlWithdrawFollowUp
	case flows.DataWithdrawSharing:
		sql = sqlWithdrawSharing
	default:
		return nil
	}
	_, err := tx.Exec(ctx, sql, tipID)
	return err
}

// Holding is what we hold about a report, in classes and counts only, with
// the requests about it that still wait or were refused.
func (db *DB) Holding(ctx context.Context, ref string) (flows.Holding, error) {
	t, err := db.TipByReference(ctx, ref)
	if err != nil {
		return flows.Holding{}, err
	}
	refs, err := db.Referrals(ctx, t.ID)
	if err != nil {
		return flows.Holding{}, err
	}
	h := flows.Holding{Classes: flows.HoldingClasses(t.Details, len(t.Distress) > 0), Media: len(t.Media),
		WriteBack: t.FollowUp, Shared: len(refs), Status: t.Status, Erased: t.Erased}
	// The latest request of each kind that waits for a person says how it stands.
	rows, err := db.pool.Query(ctx, `SELECT DISTINCT ON (kind) kind, status, COALESCE(reason, '') FROM data_requests
		WHERE tip_id = $1 AND kind IN ('withdraw_sharing', 'erasure') ORDER BY kind DESC, id DESC`, t.ID)
	if err != nil {
		return flows.Holding{}, err
	}
	type latest struct{ kind, status, reason string }
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (latest, error) {
		var l latest
		return l, r.Scan(&l.kind, &l.status, &l.reason)
	})
	if err != nil {
		return flows.Holding{}, err
	}
	for _, l := range all {
		switch {
		case l.status == "pending":
			h.Pending = append(h.Pending, l.kind)
		case l.status == "refused":
			h.Refused = append(h.Refused, l.reason)
		}
	}
	return h, nil
}

const dataRequestColumns = `r.id, r.tip_id, t.reference, r.kind, r.status, r.channel, r.language, r.created_at, r.due_at,
	r.decided_at, COALESCE(r.decided_by, ''), COALESCE(r.reason, '')`

func scanDataRequest(row pgx.CollectableRow) (DataRequest, error) {
	var d DataRequest
	err := row.Scan(&d.ID, &d.TipID, &d.Reference, &d.Kind, &d.Status, &d.Channel, &d.Language, &d.CreatedAt, &d.DueAt,
		&d.DecidedAt, &d.DecidedBy, &d.Reason)
	return d, err
}

// DataRequests lists data requests, those waiting first (soonest due
// first), then the newest decided; tipID 0 lists every report's.
func (db *DB) DataRequests(ctx context.Context, tipID int64) ([]DataRequest, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+dataRequestColumns+` FROM data_requests r JOIN tips t ON t.id = r.tip_id
		WHERE $1 = 0 OR r.tip_id = $1
		ORDER BY r.status = 'pending' DESC, CASE WHEN r.status = 'pending' THEN r.due_at END, r.decided_at DESC, r.id DESC
		LIMIT 500`, tipID)
	if err != nil {
		return nil, fmt.Errorf("data requests: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanDataRequest)
	if err != nil {
		return nil, fmt.Errorf("data requests: %w", err)
	}
	return out, nil
}

// DataRequestByID finds one request, or ErrNotFound.
func (db *DB) DataRequestByID(ctx context.Context, id int64) (DataRequest, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+dataRequestColumns+` FROM data_requests r JOIN tips t ON t.id = r.tip_id
		WHERE r.id = $1`, id)
	if err != nil {
		return DataRequest{}, fmt.Errorf("data request: %w", err)
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDataRequest)
	if errors.Is(err, pgx.ErrNoRows) {
		return DataRequest{}, ErrNotFound
	}
	if err != nil {
		return DataRequest{}, fmt.Errorf("data request: %w", err)
	}
	return d, nil
}

// Decisions a supervisor may take on a waiting request, by kind: an erasure
// is done or refused; a withdrawn sharing consent is done once the services
// already told were informed.
var dataDecisions = map[string][]string{
	flows.DataErasure:         {"done", "refused"},
	flows.DataWithdrawSharing: {"done"},
}

// DataDecisions lists what may be decided on a request of kind.
func DataDecisions(kind string) []string { return dataDecisions[kind] }

// DecideDataRequest records a supervisor's decision on a waiting request,
// audited. An erasure done erases the report (EraseTip); refused needs one
// of flows.ErasureRefusals. notice, if not empty, goes to the requester
// through the outbox, after the erasure and to their own sealed handle, so
// that it is not erased with the report; the handle is then dropped from
// the request. ErrNotFound: no such request; ErrConflict: decided already,
// or not a decision this kind allows.
func (db *DB) DecideDataRequest(ctx context.Context, id int64, decision, reason, actor, notice string) error {
	if decision != "refused" {
		reason = ""
	} else if !slices.Contains(flows.ErasureRefusals, reason) {
		return fmt.Errorf("decide data request: %w: reason %q", ErrConflict, reason)
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var tipID int64
		var kind, status, channel, pseudonym, lang string
		var sealed []byte
		err := tx.QueryRow(ctx, `SELECT tip_id, kind, status, channel, requester_pseudonym, requester_sealed, language
			FROM data_requests WHERE id = $1 FOR UPDATE`, id).Scan(&tipID, &kind, &status, &channel, &pseudonym, &sealed, &lang)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if status != "pending" || !slices.Contains(dataDecisions[kind], decision) {
			return ErrConflict
		}
		if _, err := tx.Exec(ctx, `UPDATE data_requests SET status = $2, reason = NULLIF($3, ''), decided_at = now(),
			decided_by = $4, requester_sealed = NULL WHERE id = $1`, id, decision, reason, actor); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_log (actor, action, tip_id, details) VALUES ($1, 'datareq.decided', $2,
			jsonb_build_object('request', $3::bigint, 'kind', $4::text, 'status', $5::text, 'reason', $6::text))`,
			actor, tipID, id, kind, decision, reason); err != nil {
			return err
		}
		if kind == flows.DataErasure && decision == "done" {
			if err := eraseTip(ctx, tx, tipID, actor, "data_request"); err != nil {
				return err
			}
		}
		if notice == "" || len(sealed) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `WITH o AS (
			INSERT INTO outbox (tip_id, kind, channel, recipient_pseudonym, recipient_sealed, language, body)
			VALUES ($1, 'datareq', $2, $3, $4, $5, $6) RETURNING id
		) SELECT pg_notify('outbox', id::text) FROM o`, tipID, channel, pseudonym, sealed, lang, notice)
		return err
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		return err
	}
	if err != nil {
		return fmt.Errorf("decide data request: %w", err)
	}
	return nil
}
