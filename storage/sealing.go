package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"tinbao/flows"
	"tinbao/identity"
)

// ErrNoKeys means the DB was not given the keyring it seals reports with.
var ErrNoKeys = errors.New("storage: no keyring (call SetKeys)")

// SetKeys gives the DB the master keys that wrap each report's data key.
// Reports are committed and read through it; without it, CommitTip refuses.
func (db *DB) SetKeys(kr *identity.Keyring) { db.keys = kr }

// tipPurpose is the associated data of a report's sealed fields.
const tipPurpose = "tip"

// sealedFields is what a report's data key protects: everything the person
// wrote or sent.
type sealedFields struct {
	Details  map[string]string `json:"details,omitempty"`
	Distress []flows.Distress  `json:"distress,omitempty"`
	Media    []flows.Media     `json:"media,omitempty"`
}

// sealedTip is a report ready for the database: a fresh data key, wrapped,
// and the fields and reply handle sealed under it.
type sealedTip struct {
	wrapped, fields, handle []byte
	dk                      identity.DataKey // for the attachments
}

func (db *DB) sealTip(n NewTip) (sealedTip, error) {
	if db.keys == nil {
		return sealedTip{}, ErrNoKeys
	}
	r := n.Report
	dk, wrapped, err := db.keys.NewDataKey(string(r.Reference))
	if err != nil {
		return sealedTip{}, err
	}
	plain, err := json.Marshal(sealedFields{Details: r.Details, Distress: r.Distress, Media: r.Media})
	if err != nil {
		return sealedTip{}, fmt.Errorf("seal tip: %w", err)
	}
	return sealedTip{
		wrapped: wrapped,
		fields:  dk.Seal(tipPurpose, plain),
		handle:  dk.Seal(identity.HandlePurpose(n.Channel, n.SenderPseudonym), []byte(n.Handle)),
		dk:      dk,
	}, nil
}

// dataKey opens a report's data key; ErrNoKey once it is destroyed.
func (db *DB) dataKey(ref string, wrapped []byte) (identity.DataKey, error) {
	if db.keys == nil {
		return identity.DataKey{}, ErrNoKeys
	}
	return db.keys.UnwrapDataKey(ref, wrapped)
}

// openFields fills t's personal fields from the sealed copy. A report made
// before sealing existed keeps its clear columns; an erased one has none.
func (db *DB) openFields(t *Tip, wrapped, sealed []byte) error {
	if sealed == nil {
		return nil
	}
	dk, err := db.dataKey(t.Reference, wrapped)
	if err != nil {
		return fmt.Errorf("open tip %d: %w", t.ID, err)
	}
	plain, err := dk.Open(tipPurpose, sealed)
	if err != nil {
		return fmt.Errorf("open tip %d: %w", t.ID, err)
	}
	var f sealedFields
	if err := json.Unmarshal(plain, &f); err != nil {
		return fmt.Errorf("open tip %d: %w", t.ID, err)
	}
	t.Details, t.Distress, t.Media = f.Details, f.Distress, f.Media
	if t.Details == nil {
		t.Details = map[string]string{}
	}
	return nil
}

// A two-factor secret is kept sealed by a master key, as "sealed:" and the
// base64 of the sealed value, bound to its officer's username. An older row
// in clear is read as it is until ResealTOTP seals it.
const totpPrefix = "sealed:"

func (db *DB) sealTOTP(username, secret string) (string, error) {
	if db.keys == nil {
		return "", ErrNoKeys
	}
	sealed, err := db.keys.Seal("totp", username, secret)
	if err != nil {
		return "", err
	}
	return totpPrefix + base64.StdEncoding.EncodeToString(sealed), nil
}

func (db *DB) openTOTP(username, stored string) (string, error) {
	rest, ok := strings.CutPrefix(stored, totpPrefix)
	if !ok {
		return stored, nil
	}
	if db.keys == nil {
		return "", ErrNoKeys
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return "", fmt.Errorf("two-factor secret of %s: %w", username, err)
	}
	secret, err := db.keys.Open("totp", username, raw)
	if err != nil {
		return "", fmt.Errorf("two-factor secret of %s: %w", username, err)
	}
	return secret, nil
}

// ResealTOTP seals every two-factor secret by the newest master key (the
// ones in clear too), for a rotation. It returns how many it sealed again.
func (db *DB) ResealTOTP(ctx context.Context) (int, error) {
	if db.keys == nil {
		return 0, ErrNoKeys
	}
	rows, err := db.pool.Query(ctx, `SELECT username, totp_secret FROM officers WHERE totp_secret IS NOT NULL`)
	if err != nil {
		return 0, fmt.Errorf("reseal totp: %w", err)
	}
	type row struct{ user, stored string }
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.user, &x.stored)
	})
	if err != nil {
		return 0, fmt.Errorf("reseal totp: %w", err)
	}
	n := 0
	for _, x := range all {
		if raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(x.stored, totpPrefix)); err == nil &&
			strings.HasPrefix(x.stored, totpPrefix) && db.keys.WrappedByNewest(raw) {
			continue
		}
		secret, err := db.openTOTP(x.user, x.stored)
		if err != nil {
			return n, fmt.Errorf("reseal totp: %w", err)
		}
		sealed, err := db.sealTOTP(x.user, secret)
		if err != nil {
			return n, err
		}
		tag, err := db.pool.Exec(ctx, `UPDATE officers SET totp_secret = $2 WHERE username = $1 AND totp_secret = $3`,
			x.user, sealed, x.stored)
		if err != nil {
			return n, fmt.Errorf("reseal totp: %w", err)
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}
