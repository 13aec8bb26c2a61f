package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"tinbao/identity"
	"tinbao/storage"
	"tinbao/storage/storagetest"
)

const story = "Chị Lan bị giữ ở Campuchia"

// TestEraseLeavesNothingPersonal erases a report and finds nothing it held
// in any column: the story, the handle, the reply, the note.
func TestEraseLeavesNothingPersonal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	n := newTip("TB-7K3M-Q9XJ", "e1")
	n.Report.Details["what"] = story
	n.Report.FollowUp = true
	n.Handle = "84900000123"
	c, err := db.CommitTip(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AddNote(ctx, c.TipID, "officer1", "Đã gọi cho chị Lan"); err != nil {
		t.Fatal(err)
	}
	units, err := db.Units(ctx)
	if err != nil || len(units) == 0 {
		t.Fatalf("units: %v %v", units, err)
	}
	// What an officer writes to a unit names the person as often as a note.
	if _, err := db.Refer(ctx, c.TipID, units[0].ID, "Chị Lan, gọi 84900000123 sau 21h", []string{"what"}, "officer1",
		""); err != nil {
		t.Fatal(err)
	}
	if err := db.EraseTip(ctx, c.TipID, "supervisor1", "data_request"); err != nil {
		t.Fatal(err)
	}
	tip, err := db.TipByReference(ctx, "TB-7K3M-Q9XJ")
	if err != nil || !tip.Erased || len(tip.Details) != 0 || tip.FollowUp {
		t.Fatalf("erased tip = %+v, %v", tip, err)
	}
	var all string
	err = db.Pool().QueryRow(ctx, `SELECT concat_ws(' ', (SELECT string_agg(t::text, ' ') FROM tips t),
		(SELECT string_agg(o::text, ' ') FROM outbox o), (SELECT string_agg(n::text, ' ') FROM tip_notes n),
		(SELECT string_agg(r::text, ' ') FROM referrals r),
		(SELECT string_agg(k::text, ' ') FROM data_keys k))`).Scan(&all)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"Lan", "84900000123", "Campuchia"} {
		if strings.Contains(all, secret) {
			t.Errorf("%q is still in the database after the erasure", secret)
		}
	}
	msgs, _ := db.OutboxForTip(ctx, c.TipID)
	if len(msgs) != 1 || msgs[0].Status != "undeliverable" || msgs[0].DataKey != nil {
		t.Errorf("the queued acknowledgement after the erasure: %+v", msgs)
	}
	if err := db.EraseTip(ctx, c.TipID, "supervisor1", "data_request"); err != nil {
		t.Errorf("erasing again: %v", err)
	}
}

// TestErasedReportIsUnreadableFromABackupTakenBefore takes a backup the way
// the README says (pg_dump without the data keys' rows), erases the report,
// restores the backup into a fresh database with the key store as it is
// now, and cannot read the report. The same restore before the erasure can:
// the test would pass for a broken restore otherwise.
func TestErasedReportIsUnreadableFromABackupTakenBefore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	live := storagetest.DB(t)
	n := newTip("TB-7K3M-Q9XJ", "b1")
	n.Report.Details["what"] = story
	c, err := live.CommitTip(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	dump := pgDump(t, live)
	if bytes.Contains(dump, []byte("Campuchia")) {
		t.Fatal("the backup holds the story in clear")
	}

	before := restore(t, live, dump)
	if tip, err := before.TipByReference(ctx, "TB-7K3M-Q9XJ"); err != nil || tip.Details["what"] != story {
		t.Fatalf("restored before the erasure: %+v, %v", tip, err)
	}

	if err := live.EraseTip(ctx, c.TipID, "supervisor1", "data_request"); err != nil {
		t.Fatal(err)
	}
	after := restore(t, live, dump)
	tip, err := after.TipByReference(ctx, "TB-7K3M-Q9XJ")
	if !errors.Is(err, identity.ErrNoKey) || tip.Details["what"] == story {
		t.Fatalf("restored after the erasure: %+v, %v; want identity.ErrNoKey", tip, err)
	}
}

// pgDump backs up the test's schema as the README says: every table, the
// data keys' rows left out.
func pgDump(t *testing.T, db *storage.DB) []byte {
	t.Helper()
	bin := pgTool(t, "pg_dump")
	base := storagetest.Need(t, "TEST_DATABASE_URL")
	schema := db.Pool().Config().ConnConfig.RuntimeParams["search_path"]
	out, err := exec.Command(bin, "--no-owner", "--schema="+schema, "--exclude-table-data="+schema+".data_keys", base).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	return out
}

// restore loads a dump into a fresh database, adds the key store's rows as
// the live database has them now (the keys' own, short-lived backup), and
// opens it with the same master keys.
func restore(t *testing.T, live *storage.DB, dump []byte) *storage.DB {
	t.Helper()
	ctx := context.Background()
	base := storagetest.Need(t, "TEST_DATABASE_URL")
	admin, err := pgxpool.New(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := "restore_" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "_")[:20] + "_" + randomSuffix()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a, err := pgxpool.New(context.Background(), base)
		if err == nil {
			a.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			a.Close()
		}
	})
	u, _ := url.Parse(base)
	u.Path = "/" + name
	cmd := exec.Command(pgTool(t, "psql"), "-q", "-v", "ON_ERROR_STOP=1", u.String())
	cmd.Stdin = bytes.NewReader(dump)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql restore: %v\n%s", err, out)
	}
	schema := live.Pool().Config().ConnConfig.RuntimeParams["search_path"]
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := storage.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	db.SetKeys(storagetest.Keys)
	rows, err := live.Pool().Query(ctx, `SELECT tip_id, wrapped, created_at, destroyed_at FROM data_keys`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		vals, _ := rows.Values()
		if _, err := db.Pool().Exec(ctx, `INSERT INTO data_keys VALUES ($1, $2, $3, $4)`, vals...); err != nil {
			t.Fatal(err)
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	return db
}

// pgTool finds a Postgres client program: on PATH, else the newest
// /usr/lib/postgresql/*/bin.
func pgTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	slices.Sort(found)
	if len(found) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found, and CI is set", name)
		}
		t.Skipf("%s not found", name)
	}
	return found[len(found)-1]
}

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
