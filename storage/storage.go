// Package storage keeps tinbao's durable state in Postgres (tips, outbox,
// officers, audit) and its conversational state in Redis (sessions, locks,
// dedupe). SQL is hand-written beside the function that runs it.
package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"tinbao/identity"
)

// Sentinel errors, checked with errors.Is.
var (
	ErrNotFound = errors.New("storage: not found")
	// ErrDuplicate means the message that submitted a report was already
	// committed: a replay whose effect is already durable.
	ErrDuplicate = errors.New("storage: already committed")
	// ErrReferenceTaken means a freshly drawn reference code already exists;
	// draw another and try again.
	ErrReferenceTaken = errors.New("storage: reference code taken")
	ErrConflict       = errors.New("storage: conflict")
)

// DB is the Postgres side of storage.
type DB struct {
	pool  *pgxpool.Pool
	keys  *identity.Keyring // wraps each report's data key (SetKeys)
	group *committer        // commits reports that arrive together as one
}

// Open connects to Postgres and checks that it answers.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return NewDB(pool), nil
}

// NewDB wraps an existing pool (tests give each test its own schema).
func NewDB(pool *pgxpool.Pool) *DB {
	db := &DB{pool: pool}
	db.group = newCommitter(db)
	return db
}

// Pool exposes the pool for LISTEN, which needs a dedicated connection.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Ping reports whether Postgres answers.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

// Close answers the commits in flight, then closes the pool.
func (db *DB) Close() {
	db.group.close()
	db.pool.Close()
}

func isUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && (constraint == "" || pgErr.ConstraintName == constraint)
}
