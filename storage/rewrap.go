package storage

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"tinbao/identity"
)

// RewrapDataKeys wraps every live data key again by the newest master key in
// kr, in small batches, each key in its own statement: the service keeps
// running, and a replica that knows both keys reads a report whichever key
// wraps it at that moment. It returns how many keys it re-wrapped. A key
// that no key in kr opens is an error: it would be lost with the old key.
func (db *DB) RewrapDataKeys(ctx context.Context, kr *identity.Keyring) (int, error) {
	total := 0
	for {
		rows, err := db.pool.Query(ctx, `SELECT k.tip_id, t.reference, k.wrapped FROM data_keys k JOIN tips t ON t.id = k.tip_id
			WHERE k.wrapped IS NOT NULL AND substring(k.wrapped FROM 2 FOR 4) <> $1 ORDER BY k.tip_id LIMIT 500`,
			kr.NewestKeyID())
		if err != nil {
			return total, fmt.Errorf("rewrap: %w", err)
		}
		type key struct {
			id      int64
			ref     string
			wrapped []byte
		}
		var batch []key
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.id, &k.ref, &k.wrapped); err != nil {
				rows.Close()
				return total, fmt.Errorf("rewrap: %w", err)
			}
			batch = append(batch, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("rewrap: %w", err)
		}
		if len(batch) == 0 {
			n, err := db.rewrapUploads(ctx, kr)
			if err != nil {
				return total + n, err
			}
			h, err := db.resealQueuedHandles(ctx, kr)
			return total + n + h, err
		}
		for _, k := range batch {
			re, _, err := kr.Rewrap(k.ref, k.wrapped)
			if err != nil {
				return total, fmt.Errorf("rewrap the data key of tip %d: %w", k.id, err)
			}
			// Only if nobody changed it meanwhile (an erasure wins).
			tag, err := db.pool.Exec(ctx, `UPDATE data_keys SET wrapped = $2 WHERE tip_id = $1 AND wrapped = $3`, k.id, re, k.wrapped)
			if err != nil {
				return total, fmt.Errorf("rewrap: %w", err)
			}
			total += int(tag.RowsAffected())
		}
	}
}

// DataKeysByWrapper counts live data keys: wrapped by the newest key in kr,
// and by any other.
func (db *DB) DataKeysByWrapper(ctx context.Context, kr *identity.Keyring) (newest, older int, err error) {
	err = db.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE substring(wrapped FROM 2 FOR 4) = $1),
		count(*) FILTER (WHERE substring(wrapped FROM 2 FOR 4) <> $1) FROM data_keys WHERE wrapped IS NOT NULL`,
		kr.NewestKeyID()).Scan(&newest, &older)
	if err != nil {
		err = fmt.Errorf("count data keys: %w", err)
	}
	return newest, older, err
}

// rewrapUploads wraps again the keys of web chat uploads still waiting for
// their report (a day at most), so that retiring the old master key loses
// none of them.
func (db *DB) rewrapUploads(ctx context.Context, kr *identity.Keyring) (int, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, sender_pseudonym, wrapped FROM pending_media
		WHERE substring(wrapped FROM 2 FOR 4) <> $1`, kr.NewestKeyID())
	if err != nil {
		return 0, fmt.Errorf("rewrap uploads: %w", err)
	}
	type key struct {
		id, sender string
		wrapped    []byte
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (key, error) {
		var k key
		return k, r.Scan(&k.id, &k.sender, &k.wrapped)
	})
	if err != nil {
		return 0, fmt.Errorf("rewrap uploads: %w", err)
	}
	n := 0
	for _, k := range keys {
		re, _, err := kr.Rewrap(uploadKeyRef(k.sender, k.id), k.wrapped)
		if err != nil {
			return n, fmt.Errorf("rewrap an upload's key: %w", err)
		}
		tag, err := db.pool.Exec(ctx, `UPDATE pending_media SET wrapped = $2 WHERE id = $1 AND wrapped = $3`, k.id, re, k.wrapped)
		if err != nil {
			return n, fmt.Errorf("rewrap uploads: %w", err)
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}

// resealQueuedHandles seals again, by the newest key, the handles of
// messages still to send that a master key sealed (replies, alerts):
// retiring the old key would otherwise leave them undeliverable.
func (db *DB) resealQueuedHandles(ctx context.Context, kr *identity.Keyring) (int, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, channel, recipient_pseudonym, recipient_sealed FROM outbox
		WHERE status IN ('queued', 'sending') AND length(recipient_sealed) > 5 AND get_byte(recipient_sealed, 0) = 1
		AND substring(recipient_sealed FROM 2 FOR 4) <> $1`, kr.NewestKeyID())
	if err != nil {
		return 0, fmt.Errorf("reseal handles: %w", err)
	}
	type handle struct {
		id              int64
		channel, pseudo string
		sealed          []byte
	}
	handles, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (handle, error) {
		var h handle
		return h, r.Scan(&h.id, &h.channel, &h.pseudo, &h.sealed)
	})
	if err != nil {
		return 0, fmt.Errorf("reseal handles: %w", err)
	}
	n := 0
	for _, h := range handles {
		plain, err := kr.Open(h.channel, h.pseudo, h.sealed)
		if err != nil {
			return n, fmt.Errorf("reseal the handle of message %d: %w", h.id, err)
		}
		re, err := kr.Seal(h.channel, h.pseudo, plain)
		if err != nil {
			return n, err
		}
		tag, err := db.pool.Exec(ctx, `UPDATE outbox SET recipient_sealed = $2 WHERE id = $1 AND recipient_sealed = $3`, h.id, re, h.sealed)
		if err != nil {
			return n, fmt.Errorf("reseal handles: %w", err)
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}
