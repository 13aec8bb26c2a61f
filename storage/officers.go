package storage

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/argon2"
)

// Officer roles.
var Roles = []string{"officer", "supervisor", "admin"}

// Argon2id parameters from the OWASP password storage cheat sheet.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword returns an encoded Argon2id hash.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", argonMemory, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches an encoded hash.
func CheckPassword(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// ErrOfficerExists means the username is taken.
var ErrOfficerExists = errors.New("storage: officer already exists")

// ErrNoUnit means an officer was given a unit that does not exist.
var ErrNoUnit = errors.New("storage: no such unit")

// sqlAddOfficer adds no row when the unit named is not in units.
const sqlAddOfficer = `INSERT INTO officers (username, role, unit, password_hash)
	SELECT $1, $2, NULLIF($3, ''), $4 WHERE $3 = '' OR EXISTS (SELECT 1 FROM units WHERE name = $3) RETURNING id`

// AddOfficer creates an officer account with a hashed password; unit is
// "" (the intake team) or the name of a unit, else ErrNoUnit.
func (db *DB) AddOfficer(ctx context.Context, username, role, unit, password string) (int64, error) {
	hash, err := HashPassword(password)
	if err != nil {
		return 0, fmt.Errorf("add officer: %w", err)
	}
	var id int64
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, sqlAddOfficer, username, role, unit, hash).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNoUnit
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO audit_log (actor, action, details) VALUES ('system', 'officer.created', jsonb_build_object('username', $1::text, 'role', $2::text))`, username, role)
		return err
	})
	if isUniqueViolation(err, "officers_username_key") {
		return 0, ErrOfficerExists
	}
	if errors.Is(err, ErrNoUnit) {
		return 0, ErrNoUnit
	}
	if err != nil {
		return 0, fmt.Errorf("add officer: %w", err)
	}
	return id, nil
}
