package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// Fifty officers press "take the next one" at the same moment over twenty
// reports: each report goes to exactly one of them, the rest hear that none
// is left.
func TestClaimRaceNeverGivesOneReportTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	for i := range 20 {
		if _, err := db.CommitTip(ctx, newTip(fmt.Sprintf("TB-7K3M-%04d", i), fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	got := map[int64]string{}
	none := 0
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			name := fmt.Sprintf("officer%02d", i)
			id, _, err := db.ClaimNext(ctx, name)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, storage.ErrNotFound):
				none++
			case err != nil:
				t.Error(err)
			default:
				if prev, dup := got[id]; dup {
					t.Errorf("report %d given to %s and %s", id, prev, name)
				}
				got[id] = name
			}
		})
	}
	wg.Wait()
	if len(got) != 20 || none != 30 {
		t.Errorf("%d reports claimed, %d officers told none is left; want 20 and 30", len(got), none)
	}
	// A colleague's report cannot be taken; its holder can give it back.
	var id int64
	var holder string
	for id, holder = range got {
		break
	}
	if err := db.Claim(ctx, id, "someone-else"); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("taking a colleague's report: %v, want ErrConflict", err)
	}
	if err := db.Release(ctx, id, "someone-else"); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("giving back a colleague's report: %v, want ErrConflict", err)
	}
	if err := db.Release(ctx, id, holder); err != nil {
		t.Errorf("release: %v", err)
	}
	if err := db.Claim(ctx, id, "someone-else"); err != nil {
		t.Errorf("taking a released report: %v", err)
	}
}

// The audit log is append-only: the database itself refuses changes.
func TestAuditLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	if err := db.Audit(ctx, "duty", "tip.viewed", 0, map[string]string{"from": "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, `UPDATE audit_log SET actor = 'nobody'`); err == nil {
		t.Error("an audit row was changed")
	}
	if _, err := db.Pool().Exec(ctx, `DELETE FROM audit_log`); err == nil {
		t.Error("an audit row was deleted")
	}
}

// A TOTP code's time step is used once: a replay, or an older step, is refused.
func TestTOTPStepUsedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	if _, err := db.AddOfficer(ctx, "root", "admin", "", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetTOTP(ctx, "root", "JBSWY3DPEHPK3PXP"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		step int64
		want bool
	}{{100, true}, {100, false}, {99, false}, {101, true}} {
		if got, err := db.UseTOTPStep(ctx, "root", c.step); err != nil || got != c.want {
			t.Errorf("step %d: %t %v, want %t", c.step, got, err, c.want)
		}
	}
	if o, _ := db.OfficerByName(ctx, "root"); o.TOTPSecret != "JBSWY3DPEHPK3PXP" {
		t.Errorf("secret = %q", o.TOTPSecret)
	}
}

// An officer's unit is "" (the intake team) or a unit that exists: a unit
// officer of a unit nobody refers to would see an empty queue forever.
func TestAddOfficerNeedsAnExistingUnit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	if _, err := db.AddOfficer(ctx, "ghost", "officer", "PC02 Đồng Tháp", "correct horse battery staple"); !errors.Is(err, storage.ErrNoUnit) {
		t.Fatalf("a unit that does not exist: %v, want ErrNoUnit", err)
	}
	if _, err := db.AddOfficer(ctx, "police1", "officer", "Công an tỉnh", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddOfficer(ctx, "intake", "officer", "", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	officers, _ := db.Officers(ctx)
	if len(officers) != 2 || officers[0].Username != "intake" || officers[1].Unit != "Công an tỉnh" {
		t.Errorf("officers = %+v, want intake and police1 only", officers)
	}
	var audited int
	db.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'officer.created'`).Scan(&audited)
	if audited != 2 {
		t.Errorf("%d accounts audited as created, want 2", audited)
	}
}

// A report's page lists the same sender's other reports on its channel,
// newest first: not another sender's, not another channel's, and no erased
// report on either side (an erasure leaves nothing that says whose it was).
func TestSameSender(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	commit := func(ref, source, sender, channel string) int64 {
		n := newTip(ref, source)
		n.SenderPseudonym, n.Channel = sender, channel
		c, err := db.CommitTip(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		return c.TipID
	}
	first := commit("TB-7K3M-Q9XJ", "s1", "pseudo-a", "telegram")
	commit("TB-0000-0000", "s2", "pseudo-a", "telegram")
	erased := commit("TB-7K3M-Q9XK", "s3", "pseudo-a", "telegram")
	commit("TB-7K3M-Q9XL", "s4", "pseudo-b", "telegram")
	commit("TB-7K3M-Q9XM", "s5", "pseudo-a", "web")
	if err := db.EraseTip(ctx, erased, "supervisor1", "data_request"); err != nil {
		t.Fatal(err)
	}
	got, err := db.SameSender(ctx, first)
	if err != nil || len(got) != 1 || got[0].Reference != "TB-0000-0000" {
		t.Errorf("same sender of the first = %+v, %v; want only TB-0000-0000", got, err)
	}
	if got, err := db.SameSender(ctx, erased); err != nil || len(got) != 0 {
		t.Errorf("same sender of an erased report = %+v, %v; want none", got, err)
	}
}
