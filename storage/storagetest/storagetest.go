// Package storagetest gives tests real Postgres and Redis, isolated per test:
// a fresh migrated schema and a private key prefix. The servers come from
// TEST_DATABASE_URL and TEST_REDIS_URL, which `make test` sets. Without them a
// test is skipped locally, and fails when CI is set, so CI can never pass by
// skipping.
package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"tinbao/identity"
	"tinbao/storage"
)

// Need skips the test when the variable is unset, or fails it under CI.
func Need(t testing.TB, variable string) string {
	t.Helper()
	v := os.Getenv(variable)
	if v == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set, and CI is: this test needs the services `make test` starts", variable)
		}
		t.Skipf("%s is not set; run `make test` to start Postgres and Redis", variable)
	}
	return v
}

func randomName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// EmptyDatabaseURL returns a connection URL whose search_path is a fresh,
// empty schema that is dropped when the test ends.
func EmptyDatabaseURL(t testing.TB) string {
	t.Helper()
	base := Need(t, "TEST_DATABASE_URL")
	ctx := context.Background()
	schema := "t_" + randomName()
	admin, err := pgxpool.New(ctx, base)
	if err != nil {
		t.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// DatabaseURL is EmptyDatabaseURL with every migration applied. Use it where
// the code under test opens its own pool (the binary's run()).
func DatabaseURL(t testing.TB) string {
	t.Helper()
	u := EmptyDatabaseURL(t)
	db := open(t, u)
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate test schema: %v", err)
	}
	return u
}

func open(t testing.TB, url string) *storage.DB {
	t.Helper()
	db, err := storage.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	db.SetKeys(Keys)
	return db
}

// Keys is the keyring test databases seal reports with: a fixed test key,
// never used outside tests.
var Keys = func() *identity.Keyring {
	kr, err := identity.ParseKeyring("746573742d6b65792d6e6f742d612d7365637265742d3031323334353637383930")
	if err != nil {
		panic(err)
	}
	return kr
}()

// DB returns a storage.DB on a fresh migrated schema of its own.
func DB(t testing.TB) *storage.DB { t.Helper(); return open(t, DatabaseURL(t)) }

// EmptyDB returns a storage.DB on a fresh schema with no migrations applied.
func EmptyDB(t testing.TB) *storage.DB { t.Helper(); return open(t, EmptyDatabaseURL(t)) }

// Redis returns a client and a key prefix of the test's own; the prefix's keys
// are deleted when the test ends (never FLUSHDB).
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	url := Need(t, "TEST_REDIS_URL")
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	prefix := "t:" + randomName() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.Close()
	})
	return rdb, prefix
}
