package storage_test

import (
	"context"
	"testing"
	"time"

	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// A watch that starts pages the officers' group once, in the same
// statement; the same person's next messages, while the watch is open, do
// not page again. The console lists the open alarm until the person sends.
func TestWatchAlarmPagesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	alert := &storage.Alert{Channel: "telegram", Pseudonym: "officers", Sealed: []byte("sealed"), Body: "Có người đang kêu cứu"}
	due := time.Now().Add(time.Hour)
	for range 3 {
		if err := db.WatchAlarm(ctx, "telegram", "p1", due, alert); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.WatchAlarm(ctx, "sms", "p2", due, nil); err != nil { // no officers' group
		t.Fatal(err)
	}
	var alerts int
	db.Pool().QueryRow(ctx, `SELECT count(*) FROM outbox WHERE kind = 'alert' AND body = $1 AND tip_id IS NULL`, alert.Body).Scan(&alerts)
	if alerts != 1 {
		t.Errorf("%d alerts queued for three messages of one alarm, want 1", alerts)
	}
	open, err := db.OpenAlarms(ctx)
	if err != nil || len(open) != 2 || open[0].Channel != "telegram" || open[1].Channel != "sms" {
		t.Fatalf("open alarms = %+v, %v", open, err)
	}
	// p1 sends: no longer listed, though its watch is settled only later.
	n := newTip("TB-7K3M-Q9XJ", "m1")
	n.SenderPseudonym = "p1"
	if _, err := db.CommitTip(ctx, n); err != nil {
		t.Fatal(err)
	}
	if open, _ := db.OpenAlarms(ctx); len(open) != 1 || open[0].Channel != "sms" {
		t.Errorf("open alarms after p1 sent = %+v, want only p2's", open)
	}
}
