package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// sentAck commits a tip and marks its acknowledgement sent as "SM<suffix>".
func sentAck(t *testing.T, db *storage.DB, ref, source, providerID string) storage.CommittedTip {
	t.Helper()
	ctx := context.Background()
	c, err := db.CommitTip(ctx, newTip(ref, source))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := db.ClaimOutbox(ctx, 1, time.Minute)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("claim: %v %v", msgs, err)
	}
	if err := db.MarkSent(ctx, msgs[0].ID, msgs[0].Attempts, providerID); err != nil {
		t.Fatal(err)
	}
	return c
}

func statusOf(t *testing.T, db *storage.DB, outboxID int64) string {
	t.Helper()
	var s string
	if err := db.Pool().QueryRow(context.Background(), `SELECT status FROM outbox WHERE id = $1`, outboxID).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReceiptsOnlyMoveForward(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	c := sentAck(t, db, "TB-7K3M-Q9XJ", "1", "SM1")
	for _, tc := range []struct {
		status      string
		wantChanged bool
		want        string
	}{
		{"delivered", true, "delivered"},
		{"sent", false, "delivered"},      // late
		{"delivered", false, "delivered"}, // twice
		{"undelivered", false, "delivered"},
		{"sending", false, "delivered"},
	} {
		changed, err := db.RecordReceipt(ctx, "SM1", tc.status, "")
		if err != nil || changed != tc.wantChanged || statusOf(t, db, c.OutboxID) != tc.want {
			t.Errorf("receipt %s: changed=%t err=%v status=%s; want changed=%t status=%s",
				tc.status, changed, err, statusOf(t, db, c.OutboxID), tc.wantChanged, tc.want)
		}
	}
	// Failure receipts carry the provider's code; an unknown status is refused.
	c2 := sentAck(t, db, "TB-0000-0000", "2", "SM2")
	if _, err := db.RecordReceipt(ctx, "SM2", "undelivered", "30003"); err != nil {
		t.Fatal(err)
	}
	msgs, _ := db.OutboxForTip(ctx, c2.TipID)
	if msgs[0].Status != "undelivered" || !strings.Contains(msgs[0].LastError, "30003") || msgs[0].FailedAt == nil {
		t.Errorf("after undelivered: %+v", msgs[0])
	}
	if _, err := db.RecordReceipt(ctx, "SM2", "huh", ""); err == nil {
		t.Error("an unknown receipt status was accepted")
	}
	var receipts int
	db.Pool().QueryRow(ctx, `SELECT count(*) FROM delivery_receipts`).Scan(&receipts)
	// SM1: delivered (once, though sent twice), sent, undelivered, sending; SM2: undelivered.
	if receipts != 5 {
		t.Errorf("%d receipts logged, want 5", receipts)
	}
}

func TestStatusCannotMoveBackEvenByHand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	c := sentAck(t, db, "TB-7K3M-Q9XJ", "1", "SM1")
	if _, err := db.RecordReceipt(ctx, "SM1", "delivered", ""); err != nil {
		t.Fatal(err)
	}
	for _, back := range []string{"sent", "queued", "sending", "failed"} {
		_, err := db.Pool().Exec(ctx, `UPDATE outbox SET status = $1 WHERE id = $2`, back, c.OutboxID)
		if err == nil || !strings.Contains(err.Error(), "may not move") {
			t.Errorf("delivered → %s by hand: %v, want the trigger to refuse", back, err)
		}
	}
}

func TestStaleClaimCannotOverwrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	if _, err := db.CommitTip(ctx, newTip("TB-7K3M-Q9XJ", "1")); err != nil {
		t.Fatal(err)
	}
	first, _ := db.ClaimOutbox(ctx, 1, time.Millisecond) // this dispatcher stalls…
	time.Sleep(5 * time.Millisecond)
	second, _ := db.ClaimOutbox(ctx, 1, time.Minute) // …and another takes over
	if len(first) != 1 || len(second) != 1 || second[0].Attempts != 2 {
		t.Fatalf("claims: %+v / %+v", first, second)
	}
	if err := db.MarkSent(ctx, second[0].ID, second[0].Attempts, "1001"); err != nil {
		t.Fatal(err)
	}
	// The stalled one wakes up and reports a failure: nothing changes.
	err := db.MarkFailed(ctx, first[0].ID, first[0].Attempts, "failed", "timeout")
	if !errors.Is(err, storage.ErrConflict) || statusOf(t, db, first[0].ID) != "sent" {
		t.Errorf("stale mark: %v, status %s; want ErrConflict and sent", err, statusOf(t, db, first[0].ID))
	}
}

func TestDeferKeepsAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	if _, err := db.CommitTip(ctx, newTip("TB-7K3M-Q9XJ", "1")); err != nil {
		t.Fatal(err)
	}
	m, _ := db.ClaimOutbox(ctx, 1, time.Minute)
	if err := db.Defer(ctx, m[0].ID, m[0].Attempts, time.Now().Add(-time.Second), "429"); err != nil {
		t.Fatal(err)
	}
	again, _ := db.ClaimOutbox(ctx, 1, time.Minute)
	if len(again) != 1 || again[0].Attempts != 1 || again[0].LastError != "429" {
		t.Errorf("after Defer: %+v; want attempt 1 again", again)
	}
}

func TestStatusNoticeOnlyWithFollowUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	allowed := newTip("TB-7K3M-Q9XJ", "1")
	allowed.Report.FollowUp = true
	refused := newTip("TB-0000-0000", "2")
	a, _ := db.CommitTip(ctx, allowed)
	r, _ := db.CommitTip(ctx, refused)
	if _, err := db.ChangeTipStatus(ctx, a.TipID, "forwarded", "officer1", "Tin báo đã được chuyển."); !errors.Is(err, storage.ErrNotReferred) {
		t.Fatalf("forwarded before any referral: %v, want ErrNotReferred", err)
	}
	units, _ := db.Units(ctx)
	if _, err := db.Refer(ctx, a.TipID, units[0].ID, "", []string{}, "officer1", ""); err != nil {
		t.Fatal(err)
	}
	queued, err := db.ChangeTipStatus(ctx, a.TipID, "forwarded", "officer1", "Tin báo đã được chuyển.")
	if err != nil || !queued {
		t.Fatalf("allowed: queued=%t %v", queued, err)
	}
	if queued, _ := db.ChangeTipStatus(ctx, a.TipID, "forwarded", "officer1", "again"); queued {
		t.Error("no change of status, yet a notice was queued")
	}
	if queued, err := db.ChangeTipStatus(ctx, r.TipID, "resolved", "officer1", "Đã xử lý."); err != nil || queued {
		t.Errorf("refused follow-up: queued=%t %v", queued, err)
	}
	msgs, _ := db.OutboxForTip(ctx, a.TipID)
	if len(msgs) != 2 || msgs[1].Kind != "status" || msgs[1].Channel != "telegram" ||
		string(msgs[1].RecipientSealed) != string(msgs[0].RecipientSealed) {
		t.Errorf("outbox = %+v", msgs)
	}
	if _, err := db.ChangeTipStatus(ctx, 999999, "resolved", "officer1", ""); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown tip: %v", err)
	}
	var audits int
	db.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'tip.status_changed'`).Scan(&audits)
	if audits != 2 {
		t.Errorf("%d status changes audited, want 2", audits)
	}
}

// A referral to the authorities and the status it brings are one
// transaction: if the status change fails, no referral is left behind to
// be made twice when the officer sends the form again.
func TestReferAndForwardBothOrNeither(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	n := newTip("TB-7K3M-Q9XJ", "1")
	n.Report.FollowUp = true
	c, _ := db.CommitTip(ctx, n)
	units, _ := db.Units(ctx)
	count := func(sql string) (n int) {
		if err := db.Pool().QueryRow(ctx, sql, c.TipID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// A NUL cannot be stored as text: the status change's notice fails
	// after the referral's insert has run in the same transaction.
	if _, err := db.ReferAndForward(ctx, c.TipID, units[0].ID, "", []string{"what"}, "officer1", "", "bad\x00notice"); err == nil {
		t.Fatal("a notice Postgres cannot store was accepted")
	}
	if got := count(`SELECT count(*) FROM referrals WHERE tip_id = $1`); got != 0 {
		t.Errorf("%d referrals left by a failed forward, want 0", got)
	}
	if got := count(`SELECT count(*) FROM audit_log WHERE tip_id = $1 AND action = 'tip.referred'`); got != 0 {
		t.Errorf("%d referrals audited by a failed forward, want 0", got)
	}
	id, err := db.ReferAndForward(ctx, c.TipID, units[0].ID, "", []string{"what"}, "officer1", "", "Tin báo đã được chuyển.")
	if err != nil || id == 0 {
		t.Fatalf("refer and forward: %d %v", id, err)
	}
	if tip, _ := db.TipByReference(ctx, "TB-7K3M-Q9XJ"); tip.Status != "forwarded" {
		t.Errorf("status = %q, want forwarded", tip.Status)
	}
	if got := count(`SELECT count(*) FROM referrals WHERE tip_id = $1`); got != 1 {
		t.Errorf("%d referrals, want 1", got)
	}
	if got := count(`SELECT count(*) FROM outbox WHERE tip_id = $1 AND kind = 'status'`); got != 1 {
		t.Errorf("%d status notices queued, want 1", got)
	}
}

func TestFollowUpThreadBelongsToTheReporter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	n := newTip("TB-7K3M-Q9XJ", "1")
	n.Report.FollowUp = true
	c, _ := db.CommitTip(ctx, n)
	noFollow, _ := db.CommitTip(ctx, newTip("TB-0000-0000", "2"))
	if _, err := db.QueueFollowUp(ctx, noFollow.TipID, "officer1", "Chào bạn"); !errors.Is(err, storage.ErrNoFollowUp) {
		t.Errorf("follow-up without consent: %v, want ErrNoFollowUp", err)
	}
	if _, err := db.OpenThread(ctx, "pseudo1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("thread open before any officer message: %v", err)
	}
	outID, err := db.QueueFollowUp(ctx, c.TipID, "officer1", "Bạn có biết xưởng ở đâu không?")
	if err != nil {
		t.Fatal(err)
	}
	// Once sent, the thread is open for the reporter, and only for them.
	for {
		msgs, _ := db.ClaimOutbox(ctx, 10, time.Minute)
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			db.MarkSent(ctx, m.ID, m.Attempts, "x")
		}
	}
	if ref, err := db.OpenThread(ctx, "pseudo1"); err != nil || ref != "TB-7K3M-Q9XJ" {
		t.Fatalf("OpenThread = %q, %v", ref, err)
	}
	if err := db.AppendReply(ctx, "TB-7K3M-Q9XJ", "someone-else", "telegram", "9", "x"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("reply by another sender: %v", err)
	}
	for range 2 { // a replayed message is attached once
		if err := db.AppendReply(ctx, "TB-7K3M-Q9XJ", "pseudo1", "telegram", "77", "Gần chợ"); err != nil {
			t.Fatal(err)
		}
	}
	thread, err := db.TipMessages(ctx, c.TipID)
	if err != nil || len(thread) != 2 || thread[0].Direction != "out" || thread[0].Officer != "officer1" ||
		thread[0].Status != "sent" || thread[1].Direction != "in" || thread[1].Body != "Gần chợ" {
		t.Fatalf("thread = %+v, %v", thread, err)
	}
	var kind string
	db.Pool().QueryRow(ctx, `SELECT kind FROM outbox WHERE id = $1`, outID).Scan(&kind)
	if kind != "followup" {
		t.Errorf("follow-up outbox kind = %q", kind)
	}
}

func TestUrgentAlertCommittedWithTheTip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	n := newTip("TB-7K3M-Q9XJ", "1")
	n.Report.Urgent = true
	n.Alert = &storage.Alert{Channel: "telegram", Pseudonym: "officers", Sealed: []byte{9}, Body: "🔴 TB-7K3M-Q9XJ"}
	c, err := db.CommitTip(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := db.OutboxForTip(ctx, c.TipID)
	if len(msgs) != 2 || msgs[1].Kind != "alert" || msgs[1].RecipientPseudonym != "officers" || msgs[1].Body != "🔴 TB-7K3M-Q9XJ" {
		t.Fatalf("outbox = %+v", msgs)
	}
}

func TestDeadlineAlertsOncePerTip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	urgent := newTip("TB-7K3M-Q9XJ", "1")
	urgent.Report.Urgent = true
	u, _ := db.CommitTip(ctx, urgent)
	fresh, _ := db.CommitTip(ctx, newTip("TB-0000-0000", "2"))
	db.Pool().Exec(ctx, `UPDATE tips SET created_at = now() - interval '11 minutes' WHERE id = $1`, u.TipID)
	db.Pool().Exec(ctx, `UPDATE outbox SET created_at = now() - interval '11 minutes' WHERE tip_id = $1`, u.TipID)
	// Committed just now for a cry written 30 minutes ago (Report.Since): in
	// the queue for seconds, not yet due.
	cried := newTip("TB-1111-1111", "3")
	cried.Report.Urgent, cried.Report.Since = true, time.Now().Add(-30*time.Minute)
	if _, err := db.CommitTip(ctx, cried); err != nil {
		t.Fatal(err)
	}
	group := storage.Alert{Channel: "telegram", Pseudonym: "officers", Sealed: []byte{1}}
	text := func(d storage.DueTip) string { return "⏰ " + d.Reference }
	for i, want := range []int{1, 0} { // the second round finds nothing new
		n, err := db.AlertDueTips(ctx, 10*time.Minute, 20*time.Hour, group, text)
		if err != nil || n != want {
			t.Fatalf("round %d: %d alerts, %v; want %d", i, n, err, want)
		}
	}
	msgs, _ := db.OutboxForTip(ctx, u.TipID)
	if len(msgs) != 2 || msgs[1].Body != "⏰ TB-7K3M-Q9XJ" {
		t.Errorf("outbox = %+v", msgs)
	}
	if msgs, _ := db.OutboxForTip(ctx, fresh.TipID); len(msgs) != 1 {
		t.Errorf("a fresh normal tip was alerted: %+v", msgs)
	}
}

// A receipt that arrives before the send is recorded still counts when the
// provider sends it again.
// A receipt that beats the provider's answer to the send (Twilio's callback
// racing its create response) is kept, and applied the moment the message's
// provider ID is recorded; a repeat of it changes nothing.
func TestEarlyReceiptAppliedWhenTheIDAppears(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	if _, err := db.CommitTip(ctx, newTip("TB-7K3M-Q9XJ", "1")); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"sent", "undelivered"} { // out of order, before the ID is known
		if changed, err := db.RecordReceipt(ctx, "SM9", r, "30003"); err != nil || changed {
			t.Fatalf("early receipt %s: changed=%t %v", r, changed, err)
		}
	}
	m, _ := db.ClaimOutbox(ctx, 1, time.Minute)
	if err := db.MarkSent(ctx, m[0].ID, m[0].Attempts, "SM9"); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, db, m[0].ID); st != "undelivered" {
		t.Errorf("status = %s, want undelivered (the early receipt)", st)
	}
	if changed, err := db.RecordReceipt(ctx, "SM9", "undelivered", "30003"); err != nil || changed {
		t.Errorf("repeated receipt: changed=%t %v, want no change", changed, err)
	}
	// Without an early receipt, a send is just sent.
	if _, err := db.CommitTip(ctx, newTip("TB-7K3M-Q9XK", "2")); err != nil {
		t.Fatal(err)
	}
	m, _ = db.ClaimOutbox(ctx, 1, time.Minute)
	if err := db.MarkSent(ctx, m[0].ID, m[0].Attempts, "SM10"); err != nil || statusOf(t, db, m[0].ID) != "sent" {
		t.Errorf("plain send: %v, status %s", err, statusOf(t, db, m[0].ID))
	}
}

// SMS replies are queued like any durable message; a number that wrote STOP
// is remembered by pseudonym until it writes START.
func TestRepliesAndOptOuts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	id, err := db.QueueReply(ctx, "sms", "pseudo-1", []byte{1, 2}, "vi", "Ban nhan tin co an toan khong?")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := db.ClaimOutbox(ctx, 5, time.Minute)
	if len(m) != 1 || m[0].ID != id || m[0].Kind != "reply" || m[0].TipID != 0 || m[0].Channel != "sms" {
		t.Fatalf("claimed %+v", m)
	}
	// Once the provider has it, the reply's words (a summary repeats what
	// the person wrote) are not kept in clear: nothing sends it again.
	// One that fails for good is not kept either.
	if err := db.MarkSent(ctx, m[0].ID, m[0].Attempts, "SM-reply-1"); err != nil {
		t.Fatal(err)
	}
	failed, _ := db.QueueReply(ctx, "sms", "pseudo-1", []byte{1, 2}, "vi", "Ban xem lai: Chuyen: bi giu o Bavet")
	m, _ = db.ClaimOutbox(ctx, 5, time.Minute)
	if len(m) != 1 || m[0].ID != failed {
		t.Fatalf("claimed %+v", m)
	}
	if err := db.MarkFailed(ctx, m[0].ID, m[0].Attempts, "undeliverable", "invalid number"); err != nil {
		t.Fatal(err)
	}
	var bodies string
	db.Pool().QueryRow(ctx, `SELECT string_agg(body, '|') FROM outbox WHERE kind = 'reply'`).Scan(&bodies)
	if bodies != "|" {
		t.Errorf("reply bodies after sending = %q, want both cleared", bodies)
	}
	// Each change by the time the provider received the message that asks:
	// one older than the last applied changes nothing (a STOP the gateway
	// delivers again after the person's START); the provider's own word
	// (zero time) always applies.
	t0 := time.Now().Add(-time.Hour)
	for i, step := range []struct {
		out     bool
		at      time.Time
		applied bool
		want    bool
	}{
		{true, t0, true, true},
		{true, t0, true, true}, // the same time again: in arrival order
		{false, t0.Add(time.Minute), true, false},
		{true, t0, false, false}, // the first STOP, delivered again
		{false, t0.Add(30 * time.Second), false, false},
		{true, time.Time{}, true, true},               // the provider: the number unsubscribed
		{false, t0.Add(2 * time.Minute), false, true}, // before the provider's word (now)
		{false, time.Now().Add(time.Hour), true, false},
	} {
		applied, err := db.SetOptOut(ctx, "pseudo-1", step.out, storage.OptOutStop, step.at)
		if err != nil {
			t.Fatal(err)
		}
		got, notice, err := db.OptedOut(ctx, "pseudo-1")
		if applied != step.applied || err != nil || got != step.want || notice != 0 {
			t.Errorf("step %d, SetOptOut(%t): applied %t, opted out = %t, notice %d, %v; want applied %t, opted out %t",
				i, step.out, applied, got, notice, err, step.applied, step.want)
		}
	}
	// An opt-out with its notice: the notice is queued with it, and is the
	// one message the number may still get; a second opt-out queues none.
	for range 2 {
		if _, err := db.OptOutWithNotice(ctx, "sms", "pseudo-2", []byte{1, 2}, "vi", "Se khong nhan nua. Gui BAT DAU.", t0); err != nil {
			t.Fatal(err)
		}
	}
	out, notice, err := db.OptedOut(ctx, "pseudo-2")
	var queued []int64
	rows, _ := db.Pool().Query(ctx, `SELECT id FROM outbox WHERE recipient_pseudonym = 'pseudo-2' AND kind = 'reply'`)
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		queued = append(queued, id)
	}
	if err != nil || !out || len(queued) != 1 || notice != queued[0] {
		t.Errorf("opt-out with notice: out=%t notice=%d queued=%v %v", out, notice, queued, err)
	}
	// A STOP before the notice went takes it back: after STOP, nothing.
	if _, err := db.SetOptOut(ctx, "pseudo-2", true, storage.OptOutStop, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if out, notice, err := db.OptedOut(ctx, "pseudo-2"); err != nil || !out || notice != 0 {
		t.Errorf("after STOP: out=%t notice=%d %v, want opted out with no notice", out, notice, err)
	}
	// A "dung" delivered again after the START that followed it.
	if _, err := db.SetOptOut(ctx, "pseudo-2", false, storage.OptOutStop, t0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	applied, err := db.OptOutWithNotice(ctx, "sms", "pseudo-2", []byte{1, 2}, "vi", "Se khong nhan nua.", t0.Add(2*time.Second))
	if out, _, oerr := db.OptedOut(ctx, "pseudo-2"); err != nil || oerr != nil || applied || out {
		t.Errorf("an older 'dung' after START: applied %t, opted out %t (%v %v); want neither", applied, out, err, oerr)
	}
}
