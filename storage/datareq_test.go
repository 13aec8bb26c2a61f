package storage_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"tinbao/flows"
	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// Two working days, Saturdays and Sundays not counted, in Vietnam time.
func TestWorkingDaysAfter(t *testing.T) {
	vn := time.FixedZone("ICT", 7*60*60)
	at := func(day, hour int) time.Time { return time.Date(2026, 3, day, hour, 0, 0, 0, vn) } // 2 March 2026 is a Monday
	for _, c := range []struct {
		name     string
		from     time.Time
		due      time.Time
		weekdays string
	}{
		{"Monday morning", at(2, 10), at(4, 10), "Wednesday"},
		{"Thursday morning", at(5, 9), at(9, 9), "Monday"},
		{"Friday afternoon", at(6, 15), at(10, 15), "Tuesday"},
		{"Friday just after midnight", at(6, 0), at(10, 0), "Tuesday"},
		{"Saturday: from the start of Monday to the end of Tuesday", at(7, 10), at(11, 0), "Wednesday"},
		{"Sunday night", at(8, 23), at(11, 0), "Wednesday"},
		{"Friday 20:00 UTC is Saturday 03:00 in Vietnam", time.Date(2026, 3, 6, 20, 0, 0, 0, time.UTC), at(11, 0), "Wednesday"},
		{"Sunday 20:00 UTC is Monday 03:00 in Vietnam", time.Date(2026, 3, 8, 20, 0, 0, 0, time.UTC), at(11, 3), "Wednesday"},
		{"across a month", time.Date(2026, 3, 31, 12, 0, 0, 0, vn), time.Date(2026, 4, 2, 12, 0, 0, 0, vn), "Thursday"},
	} {
		got := storage.WorkingDaysAfter(c.from, 2)
		if !got.Equal(c.due) || got.Weekday().String() != c.weekdays {
			t.Errorf("%s: %s + 2 working days = %s, want %s (%s)", c.name, c.from, got, c.due, c.weekdays)
		}
	}
	if got := storage.WorkingDaysAfter(at(2, 10), 0); !got.Equal(at(2, 10)) {
		t.Errorf("0 working days after a Monday = %s", got)
	}
}

func dataRequest(ref, kind, requester, source string) storage.NewDataRequest {
	sealed, err := storagetest.Keys.Seal("telegram", requester, "700001")
	if err != nil {
		panic(err)
	}
	return storage.NewDataRequest{Reference: ref, Kind: kind, Channel: "telegram", Requester: requester, Sealed: sealed,
		Language: "vi", SourceMessageID: source}
}

func countRows(t *testing.T, db *storage.DB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The reporter sees a summary of the classes held, never the words; an
// unknown code and someone else's code are recorded nowhere; a report made
// in the web chat answers to its code alone.
func TestDataRequestAccess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	n := newTip("TB-7K3M-Q9XJ", "a1")
	n.Report.Details["where"] = "Bavet"
	n.Report.Media = []flows.Media{{Kind: "photo", FileID: "f1"}, {Kind: "photo", FileID: "f2"}}
	n.Report.FollowUp = true
	c, err := db.CommitTip(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	h, err := db.RecordDataRequest(ctx, dataRequest("TB-7K3M-Q9XJ", flows.DataAccess, "pseudo1", "m1"))
	if err != nil || h == nil {
		t.Fatalf("access = %v, %v", h, err)
	}
	if !slices.Equal(h.Classes, []string{"story", "place"}) || h.Media != 2 || !h.WriteBack || h.Status != "new" || h.Erased {
		t.Errorf("holding = %+v", h)
	}
	reqs, _ := db.DataRequests(ctx, c.TipID)
	if len(reqs) != 1 || reqs[0].Kind != "access" || reqs[0].Status != "done" || reqs[0].DecidedAt == nil || reqs[0].Reference != "TB-7K3M-Q9XJ" {
		t.Errorf("requests = %+v", reqs)
	}
	if !reqs[0].DueAt.Equal(storage.WorkingDaysAfter(reqs[0].CreatedAt, 2)) {
		t.Errorf("due %s for a request of %s", reqs[0].DueAt, reqs[0].CreatedAt)
	}
	// The same message again (a retried webhook) records nothing new.
	if _, err := db.RecordDataRequest(ctx, dataRequest("TB-7K3M-Q9XJ", flows.DataAccess, "pseudo1", "m1")); err != nil {
		t.Fatal(err)
	}
	// Someone else with the code of a Telegram report, and a code nobody
	// was given: not found, nothing recorded, no effect.
	for _, r := range []storage.NewDataRequest{
		dataRequest("TB-7K3M-Q9XJ", flows.DataWithdrawFollowUp, "someone-else", "m2"),
		dataRequest("TB-0000-0000", flows.DataErasure, "pseudo1", "m3"),
	} {
		if _, err := db.RecordDataRequest(ctx, r); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s by %s: %v, want ErrNotFound", r.Reference, r.Requester, err)
		}
	}
	if n := countRows(t, db, `SELECT count(*) FROM data_requests`); n != 1 {
		t.Errorf("%d requests recorded, want 1", n)
	}
	if tip, _ := db.TipByReference(ctx, "TB-7K3M-Q9XJ"); !tip.FollowUp {
		t.Error("someone else's request stopped the messages")
	}
	// A web report: its code is all its sender has.
	w := newTip("TB-WEB0-0001", "w1")
	w.Channel, w.SenderPseudonym = "web", "browser-session-1"
	if _, err := db.CommitTip(ctx, w); err != nil {
		t.Fatal(err)
	}
	if h, err := db.RecordDataRequest(ctx, dataRequest("TB-WEB0-0001", flows.DataAccess, "browser-session-2", "m4")); err != nil || h == nil {
		t.Errorf("access to a web report from a new browser session = %v, %v", h, err)
	}
	audit := countRows(t, db, `SELECT count(*) FROM audit_log WHERE action = 'datareq.received'`)
	if audit != 2 {
		t.Errorf("%d datareq.received audit rows, want 2", audit)
	}
}

// Withdrawing follow-up consent takes effect at once: no more officer
// messages, what was waiting to go out cancelled, the handles cleared.
func TestDataRequestWithdrawFollowUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	n := newTip("TB-7K3M-Q9XJ", "f1")
	n.Report.FollowUp = true
	n.Alert = &storage.Alert{Channel: "telegram", Pseudonym: "officers", Sealed: []byte("group"), Body: "Tin khẩn"}
	c, err := db.CommitTip(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.QueueFollowUp(ctx, c.TipID, "officer1", "Bạn có an toàn không?"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecordDataRequest(ctx, dataRequest("TB-7K3M-Q9XJ", flows.DataWithdrawFollowUp, "pseudo1", "m1")); err != nil {
		t.Fatal(err)
	}
	if tip, _ := db.TipByReference(ctx, "TB-7K3M-Q9XJ"); tip.FollowUp {
		t.Error("follow-up still allowed")
	}
	msgs, _ := db.OutboxForTip(ctx, c.TipID)
	for _, m := range msgs {
		switch {
		case m.Kind == "alert":
			if len(m.RecipientSealed) == 0 || m.Status != "queued" {
				t.Errorf("the officers' alert was touched: %+v", m)
			}
		case len(m.RecipientSealed) != 0:
			t.Errorf("%s message keeps the reporter's handle", m.Kind)
		case m.Status != "undeliverable" || m.LastError != "consent withdrawn":
			t.Errorf("%s message not cancelled: %s %q", m.Kind, m.Status, m.LastError)
		}
	}
	if _, err := db.QueueFollowUp(ctx, c.TipID, "officer1", "Xin chào"); !errors.Is(err, storage.ErrNoFollowUp) {
		t.Errorf("an officer's message after the withdrawal: %v, want ErrNoFollowUp", err)
	}
	reqs, _ := db.DataRequests(ctx, c.TipID)
	if len(reqs) != 1 || reqs[0].Status != "done" || reqs[0].DecidedBy != "system" {
		t.Errorf("requests = %+v", reqs)
	}
	if n := countRows(t, db, `SELECT count(*) FROM data_requests WHERE requester_sealed IS NOT NULL`); n != 0 {
		t.Error("a request done at once keeps the requester's handle")
	}
	if n := countRows(t, db, `SELECT count(*) FROM audit_log WHERE action = 'tip.followup_withdrawn' AND tip_id = $1`, c.TipID); n != 1 {
		t.Errorf("%d tip.followup_withdrawn audit rows", n)
	}
}

// Withdrawing sharing consent blocks new referrals at once and waits for a
// supervisor to confirm that services already told were informed; a second
// request of the same kind adds nothing while one waits.
func TestDataRequestWithdrawSharing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	c, err := db.CommitTip(ctx, newTip("TB-7K3M-Q9XJ", "s1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"m1", "m2"} {
		if _, err := db.RecordDataRequest(ctx, dataRequest("TB-7K3M-Q9XJ", flows.DataWithdrawSharing, "pseudo1", src)); err != nil {
			t.Fatal(err)
		}
	}
	if tip, _ := db.TipByReference(ctx, "TB-7K3M-Q9XJ"); tip.SharingWithdrawn == nil {
		t.Error("sharing not withdrawn")
	}
	reqs, _ := db.DataRequests(ctx, c.TipID)
	if len(reqs) != 1 || reqs[0].Status != "pending" {
		t.Fatalf("requests = %+v", reqs)
	}
	h, _ := db.Holding(ctx, "TB-7K3M-Q9XJ")
	if !slices.Equal(h.Pending, []string{"withdraw_sharing"}) {
		t.Errorf("pending = %v", h.Pending)
	}
	if err := db.DecideDataRequest(ctx, reqs[0].ID, "refused", "law_requires_keeping", "chief", ""); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("refusing a withdrawn consent: %v, want ErrConflict", err)
	}
	if err := db.DecideDataRequest(ctx, reqs[0].ID, "done", "", "chief", ""); err != nil {
		t.Fatal(err)
	}
	if err := db.DecideDataRequest(ctx, reqs[0].ID, "done", "", "chief", ""); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("deciding twice: %v, want ErrConflict", err)
	}
	if d, _ := db.DataRequestByID(ctx, reqs[0].ID); d.Status != "done" || d.DecidedBy != "chief" || d.DecidedAt == nil {
		t.Errorf("decided = %+v", d)
	}
}

// An erasure waits for a supervisor. Done: the report is erased and the
// requester told through the outbox, to their own sealed handle, which
// survives the erasure. Refused: a reason from the fixed list, the report
// kept, the requester told.
func TestDataRequestErasureDecision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	n := newTip("TB-7K3M-Q9XJ", "e1")
	n.Report.Details["what"] = story
	c, err := db.CommitTip(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := db.CommitTip(ctx, newTip("TB-AAAA-BBBB", "e2"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"TB-7K3M-Q9XJ", "TB-AAAA-BBBB"} {
		if _, err := db.RecordDataRequest(ctx, dataRequest(ref, flows.DataErasure, "pseudo1", "m-"+ref)); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := db.DataRequests(ctx, 0)
	if len(all) != 2 || all[0].Status != "pending" || all[1].Status != "pending" || all[0].DueAt.After(all[1].DueAt) {
		t.Fatalf("requests = %+v", all)
	}
	byRef := map[string]storage.DataRequest{}
	for _, r := range all {
		byRef[r.Reference] = r
	}
	erase, refuse := byRef["TB-7K3M-Q9XJ"], byRef["TB-AAAA-BBBB"]

	if err := db.DecideDataRequest(ctx, erase.ID, "done", "", "chief", "Tin TB-7K3M-Q9XJ đã được xoá."); err != nil {
		t.Fatal(err)
	}
	tip, _ := db.TipByReference(ctx, "TB-7K3M-Q9XJ")
	if !tip.Erased || len(tip.Details) != 0 {
		t.Errorf("tip after the erasure = %+v", tip)
	}
	var notice storage.OutboxMessage
	msgs, _ := db.OutboxForTip(ctx, c.TipID)
	for _, m := range msgs {
		if m.Kind == "datareq" {
			notice = m
		}
	}
	if notice.Status != "queued" || notice.Body != "Tin TB-7K3M-Q9XJ đã được xoá." {
		t.Fatalf("notice = %+v", notice)
	}
	if h, err := storagetest.Keys.Open(notice.Channel, notice.RecipientPseudonym, notice.RecipientSealed); err != nil || h != "700001" {
		t.Errorf("the notice's handle does not open: %q, %v", h, err)
	}
	if n := countRows(t, db, `SELECT count(*) FROM data_requests WHERE requester_sealed IS NOT NULL AND status <> 'pending'`); n != 0 {
		t.Error("a decided request keeps the requester's handle")
	}
	for _, action := range []string{"tip.erased", "datareq.decided"} {
		if n := countRows(t, db, `SELECT count(*) FROM audit_log WHERE action = $1 AND tip_id = $2 AND actor = 'chief'`, action, c.TipID); n != 1 {
			t.Errorf("%d %s audit rows", n, action)
		}
	}
	if h, _ := db.Holding(ctx, "TB-7K3M-Q9XJ"); !h.Erased {
		t.Errorf("holding of an erased report = %+v", h)
	}

	if err := db.DecideDataRequest(ctx, refuse.ID, "refused", "because", "chief", "x"); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("a reason not on the list: %v, want ErrConflict", err)
	}
	if err := db.DecideDataRequest(ctx, refuse.ID, "refused", "law_requires_keeping", "chief", "Chưa xoá tin TB-AAAA-BBBB."); err != nil {
		t.Fatal(err)
	}
	if tip, _ := db.TipByReference(ctx, "TB-AAAA-BBBB"); tip.Erased {
		t.Error("a refused erasure erased the report")
	}
	if d, _ := db.DataRequestByID(ctx, refuse.ID); d.Status != "refused" || d.Reason != "law_requires_keeping" {
		t.Errorf("refused = %+v", d)
	}
	if n := countRows(t, db, `SELECT count(*) FROM outbox WHERE tip_id = $1 AND kind = 'datareq' AND body LIKE 'Chưa xoá%'`, kept.TipID); n != 1 {
		t.Errorf("%d refusal notices queued, want 1", n)
	}
	if h, _ := db.Holding(ctx, "TB-AAAA-BBBB"); !slices.Equal(h.Refused, []string{"law_requires_keeping"}) || len(h.Pending) != 0 {
		t.Errorf("holding after the refusal = %+v", h)
	}
}
