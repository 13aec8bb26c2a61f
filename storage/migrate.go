package storage

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock is the advisory lock key that serialises migrations, so two
// replicas starting together do not race: the second waits, then skips.
const migrationLock = 0x74696e62616f // "tinbao"

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, n := range names {
		base := strings.TrimPrefix(n, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and _", base)
		}
		body, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("two migrations numbered %d", out[i].version)
		}
	}
	return out, nil
}

const sqlCreateMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now())`

// Migrate applies the embedded migrations that are not applied yet, each in
// its own transaction under an advisory lock. It returns the names applied.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	ms, err := migrations()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var applied []string
	for _, m := range ms {
		done, err := db.applyOne(ctx, m)
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %w", m.name, err)
		}
		if done {
			applied = append(applied, m.name)
		}
	}
	return applied, nil
}

func (db *DB) applyOne(ctx context.Context, m migration) (bool, error) {
	applied := false
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlCreateMigrations); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return err
		}
		applied = true
		return nil
	})
	return applied, err
}

// ErrNotMigrated means the database lacks migrations this binary needs.
var ErrNotMigrated = errors.New("database is not migrated: run `tinbao migrate` first")

// CheckMigrated returns ErrNotMigrated unless every embedded migration is applied.
func (db *DB) CheckMigrated(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	var present bool
	if err := db.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&present); err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if !present {
		return ErrNotMigrated
	}
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version <= $1`, ms[len(ms)-1].version).Scan(&n); err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if n < len(ms) {
		return fmt.Errorf("%w (%d of %d applied)", ErrNotMigrated, n, len(ms))
	}
	return nil
}
