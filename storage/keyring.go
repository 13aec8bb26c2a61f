package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"tinbao/identity"
)

// ErrKeyring is a TINBAO_SECRET that this database cannot be served with.
var ErrKeyring = errors.New("TINBAO_SECRET does not fit this database")

// CheckKeys refuses a key ring that would quietly lose data:
//   - without the key pseudonyms came from (the last one), every sender
//     would become someone new: a number that sent STOP would be texted
//     again, and people could no longer look up their own reports;
//   - without a key some report's data key (or a waiting upload's, a
//     queued message's handle, or an officer's two-factor secret) is still
//     wrapped by, retired before `tinbao keys rotate --rewrap` ran, those
//     could not be opened.
//
// The first service to start records the pseudonym key's fingerprint.
func (db *DB) CheckKeys(ctx context.Context, kr *identity.Keyring) error {
	if _, err := db.pool.Exec(ctx, `INSERT INTO keyring (pseudonym_key_id) VALUES ($1) ON CONFLICT (singleton) DO NOTHING`,
		kr.PseudonymKeyID()); err != nil {
		return fmt.Errorf("check keys: %w", err)
	}
	// A second statement: one that lost the race with another replica's
	// insert sees the winner's row (the same statement's snapshot did not).
	var recorded []byte
	if err := db.pool.QueryRow(ctx, `SELECT pseudonym_key_id FROM keyring`).Scan(&recorded); err != nil {
		return fmt.Errorf("check keys: %w", err)
	}
	if !bytes.Equal(recorded, kr.PseudonymKeyID()) {
		return fmt.Errorf("%w: its last key is not the one sender pseudonyms come from (the last key this database was served with); "+
			"put that key back at the end of the list: without it every sender becomes someone new, and numbers that sent STOP would be texted again", ErrKeyring)
	}
	// What a master key wraps or seals, by the key's fingerprint (bytes 2-5
	// after the format byte): report data keys, uploads still waiting for
	// their report, handles of messages still to send.
	var unreadable int
	err := db.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM data_keys WHERE wrapped IS NOT NULL AND NOT (substring(wrapped FROM 2 FOR 4) = ANY($1)))
		+ (SELECT count(*) FROM pending_media WHERE expires_at > now() AND NOT (substring(wrapped FROM 2 FOR 4) = ANY($1)))
		+ (SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending') AND get_byte(recipient_sealed, 0) = 1
			AND length(recipient_sealed) > 5 AND NOT (substring(recipient_sealed FROM 2 FOR 4) = ANY($1)))`, kr.KeyIDs()).Scan(&unreadable)
	if err != nil {
		return fmt.Errorf("check keys: %w", err)
	}
	// Officers' two-factor secrets, sealed by a master key too (a few rows):
	// by fingerprint, so one damaged row cannot keep the hotline down.
	rows, err := db.pool.Query(ctx, `SELECT totp_secret FROM officers WHERE totp_secret LIKE $1 || '%'`, totpPrefix)
	if err != nil {
		return fmt.Errorf("check keys: %w", err)
	}
	ids := kr.KeyIDs()
	var stored string
	_, err = pgx.ForEachRow(rows, []any{&stored}, func() error {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(stored, totpPrefix))
		if err == nil && len(raw) > 5 && !slices.ContainsFunc(ids, func(id []byte) bool { return bytes.Equal(id, raw[1:5]) }) {
			unreadable++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check keys: %w", err)
	}
	if unreadable > 0 {
		return fmt.Errorf("%w: %d report, upload, message or two-factor key(s) are wrapped by a key no longer in it; put the retired key back, "+
			"run `tinbao keys rotate --rewrap`, and only then retire it", ErrKeyring, unreadable)
	}
	return nil
}
