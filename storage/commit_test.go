package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// Many reports committed at once, through the commit loop: each lands
// exactly once, with its own acknowledgement, and each caller is answered
// with its own report.
func TestGroupCommitConcurrent(t *testing.T) {
	t.Parallel()
	db := storagetest.DB(t)
	ctx := context.Background()
	const n = 64
	var wg sync.WaitGroup
	got := make([]storage.CommittedTip, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			got[i], errs[i] = db.CommitTip(ctx, newTip(fmt.Sprintf("TB-GC%02d-AAAA", i), fmt.Sprint("gc", i)))
		})
	}
	wg.Wait()
	outbox := map[int64]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("commit %d: %v", i, errs[i])
		}
		if want := fmt.Sprintf("TB-GC%02d-AAAA", i); got[i].Reference != want {
			t.Errorf("commit %d answered with %s, want its own %s", i, got[i].Reference, want)
		}
		if outbox[got[i].OutboxID] {
			t.Errorf("commit %d: outbox %d answered twice", i, got[i].OutboxID)
		}
		outbox[got[i].OutboxID] = true
	}
	if c := countRows(t, db, `SELECT count(*) FROM tips`); c != n {
		t.Errorf("%d tips, want %d", c, n)
	}
	if c := countRows(t, db, `SELECT count(*) FROM outbox WHERE kind = 'ack'`); c != n {
		t.Errorf("%d acknowledgements, want %d", c, n)
	}
	if c := countRows(t, db, `SELECT count(*) FROM data_keys`); c != n {
		t.Errorf("%d data keys, want %d", c, n)
	}
}

// Inside one group, a replayed source and a reference code already taken
// fail only their own caller; the others commit.
func TestGroupCommitDuplicateAndTakenReference(t *testing.T) {
	t.Parallel()
	db := storagetest.DB(t)
	ctx := context.Background()
	if _, err := db.CommitTip(ctx, newTip("TB-GD00-AAAA", "gd-before")); err != nil {
		t.Fatal(err)
	}
	_, errs := db.CommitTogether(ctx, []storage.NewTip{
		newTip("TB-GD01-AAAA", "gd1"),
		newTip("TB-GD02-AAAA", "gd-before"), // replay of a committed source
		newTip("TB-GD00-AAAA", "gd3"),       // a code already taken
		newTip("TB-GD04-AAAA", "gd4"),
		newTip("TB-GD05-AAAA", "gd4"), // replay within the group
		newTip("TB-GD04-AAAA", "gd6"), // code taken within the group
	})
	want := []error{nil, storage.ErrDuplicate, storage.ErrReferenceTaken, nil, storage.ErrDuplicate, storage.ErrReferenceTaken}
	for i := range want {
		if !errors.Is(errs[i], want[i]) || (want[i] == nil && errs[i] != nil) {
			t.Errorf("report %d: %v, want %v", i, errs[i], want[i])
		}
	}
	if c := countRows(t, db, `SELECT count(*) FROM tips`); c != 3 {
		t.Errorf("%d tips, want 3", c)
	}
	if c := countRows(t, db, `SELECT count(*) FROM outbox`); c != 3 {
		t.Errorf("%d outbox rows, want 3", c)
	}
}

// A report Postgres refuses (a NUL in its text) fails the group's
// transaction as a whole: nothing of it stays, and each report is tried
// again alone, so only the broken one fails.
func TestGroupCommitBrokenReportRetriedAlone(t *testing.T) {
	t.Parallel()
	db := storagetest.DB(t)
	ctx := context.Background()
	broken := newTip("TB-GB02-AAAA", "gb2")
	broken.Report.Ack = "Cảm ơn\x00"
	got, errs := db.CommitTogether(ctx, []storage.NewTip{newTip("TB-GB01-AAAA", "gb1"), broken, newTip("TB-GB03-AAAA", "gb3")})
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("the good reports failed with the broken one: %v", errs)
	}
	if errs[1] == nil || errors.Is(errs[1], storage.ErrDuplicate) || errors.Is(errs[1], storage.ErrReferenceTaken) {
		t.Errorf("broken report: %v, want Postgres's refusal", errs[1])
	}
	if got[0].Reference != "TB-GB01-AAAA" || got[2].Reference != "TB-GB03-AAAA" {
		t.Errorf("answers %+v", got)
	}
	if c := countRows(t, db, `SELECT count(*) FROM tips`); c != 2 {
		t.Errorf("%d tips, want 2", c)
	}
	if c := countRows(t, db, `SELECT count(*) FROM outbox`); c != 2 {
		t.Errorf("%d outbox rows, want 2", c)
	}
}

// A caller who gives up while its report is on its way gets an error, but
// the report is committed all the same, and the retry finds it. A caller
// who gave up before commits nothing.
func TestGroupCommitCancellation(t *testing.T) {
	t.Parallel()
	db := storagetest.DB(t)
	ctx := context.Background()
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.CommitTip(gone, newTip("TB-GX00-AAAA", "gx0")); !errors.Is(err, context.Canceled) {
		t.Errorf("commit with an ended context: %v", err)
	}
	// Hold the commit up behind a lock until the caller gives up.
	lock, err := db.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, `LOCK TABLE tips IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = db.CommitTip(short, newTip("TB-GX01-AAAA", "gx1"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("commit held up past its deadline: %v", err)
	}
	if err := lock.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for countRows(t, db, `SELECT count(*) FROM tips WHERE reference = 'TB-GX01-AAAA'`) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the report whose caller gave up was not committed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := db.CommitTip(ctx, newTip("TB-GX02-AAAA", "gx1")); !errors.Is(err, storage.ErrDuplicate) {
		t.Errorf("retry: %v, want ErrDuplicate", err)
	}
	if c := countRows(t, db, `SELECT count(*) FROM tips`); c != 1 {
		t.Errorf("%d tips, want 1", c)
	}
}
