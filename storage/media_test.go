package storage_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"tinbao/flows"
	"tinbao/media"
	"tinbao/media/mediatest"
	"tinbao/storage"
	"tinbao/storage/storagetest"
)

func cleanedFile(t *testing.T) (storage.MediaFile, []byte) {
	t.Helper()
	orig := mediatest.JPEG(40, 20, 6)
	r := media.Process(orig)
	if r.Clean == nil {
		t.Fatalf("not cleaned: %+v", r)
	}
	return storage.MediaFile{Kind: "photo", Original: orig, ContentType: r.ContentType, Clean: r.Clean,
		Width: r.Width, Height: r.Height}, orig
}

// A report's attachments are committed with it: a web upload moves in,
// sealed again under the report's key (and leaves pending_media), a
// Telegram file waits for the fetcher by its sealed ID, one over the limit
// is marked too big. Reading one is audited in the same statement.
func TestCommitTipAttachesMedia(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	file, orig := cleanedFile(t)
	upload, err := db.KeepUpload(ctx, "pseudo1", file)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := db.KeepUpload(ctx, "someone-else", file)
	if err != nil {
		t.Fatal(err)
	}
	const fileID = "AgACAgUAAxkBAAIBZ2secret-file-id"
	n := newTip("TB-7K3M-Q9XJ", "m1")
	n.Report.Media = []flows.Media{
		{Kind: "photo", FileID: upload, Mime: "image/jpeg"},
		{Kind: "photo", FileID: fileID, Size: 50_000},
		{Kind: "document", FileID: "BQACAgUAAxkBig", Size: 20 << 20},
		{Kind: "photo", FileID: stranger}, // another sender's upload is not theirs to attach
	}
	c, err := db.CommitTip(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	items, err := db.TipMedia(ctx, c.TipID)
	if err != nil || len(items) != 4 {
		t.Fatalf("media = %+v, %v", items, err)
	}
	for i, want := range []string{"fetched", "pending", "too_big", "failed"} {
		if items[i].Status != want {
			t.Errorf("attachment %d: %+v, want %s", i, items[i], want)
		}
	}
	if it := items[0]; !it.HasClean || !it.HasOriginal || it.Width != 20 || it.Height != 40 || it.Size != int64(len(orig)) ||
		it.ContentType != "image/jpeg" {
		t.Errorf("upload attached as %+v", it)
	}
	var waiting int
	db.Pool().QueryRow(ctx, `SELECT count(*) FROM pending_media WHERE sender_pseudonym = 'pseudo1'`).Scan(&waiting)
	if waiting != 0 {
		t.Errorf("%d uploads still waiting after the commit", waiting)
	}

	// Nothing in clear: not the file ID, not a byte run of the photo.
	var leaks int
	err = db.Pool().QueryRow(ctx, `SELECT count(*) FROM tip_media m WHERE m::text LIKE '%'||$1||'%'
		OR position($2::bytea IN COALESCE(original_sealed, '')) > 0 OR position($2::bytea IN COALESCE(clean_sealed, '')) > 0
		OR position($3::bytea IN COALESCE(original_sealed, '')) > 0`,
		fileID, file.Clean[200:232], mediatest.GPSBytes()).Scan(&leaks)
	if err != nil || leaks != 0 {
		t.Errorf("attachment content or file ID in clear: %d rows, %v", leaks, err)
	}

	clean, err := db.OpenMedia(ctx, c.TipID, items[0].ID, false, "duty", "127.0.0.1")
	if err != nil || !bytes.Equal(clean.Data, file.Clean) || clean.ContentType != "image/jpeg" {
		t.Fatalf("cleaned copy: %v", err)
	}
	original, err := db.OpenMedia(ctx, c.TipID, items[0].ID, true, "chief", "127.0.0.1")
	if err != nil || !bytes.Equal(original.Data, orig) {
		t.Fatalf("original: %v", err)
	}
	var audited int
	db.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE tip_id = $1 AND (
		(action = 'media.viewed' AND actor = 'duty') OR (action = 'media.original_viewed' AND actor = 'chief'))`, c.TipID).Scan(&audited)
	if audited != 2 {
		t.Errorf("%d audit rows for two views, want 2", audited)
	}
	if _, err := db.OpenMedia(ctx, c.TipID, items[1].ID, false, "duty", ""); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a file not fetched yet: %v, want ErrNotFound", err)
	}

	// The fetcher claims the waiting file, reads its ID, stores it.
	job, ok, err := db.ClaimMedia(ctx, time.Minute)
	if err != nil || !ok || job.ID != items[1].ID || job.Channel != "telegram" || job.Attempts != 1 {
		t.Fatalf("claim = %+v %t %v", job, ok, err)
	}
	if _, again, _ := db.ClaimMedia(ctx, time.Minute); again {
		t.Error("a claimed file was claimed twice")
	}
	if id, err := db.Source(job); err != nil || id != fileID {
		t.Fatalf("source = %q, %v", id, err)
	}
	if err := db.StoreFetched(ctx, job, file); err != nil {
		t.Fatal(err)
	}
	items, _ = db.TipMedia(ctx, c.TipID)
	if items[1].Status != "fetched" || !items[1].HasClean {
		t.Errorf("fetched = %+v", items[1])
	}
	var source []byte
	db.Pool().QueryRow(ctx, `SELECT source_sealed FROM tip_media WHERE id = $1`, job.ID).Scan(&source)
	if source != nil {
		t.Error("the file ID is kept after the fetch")
	}

	// Erasing the report shreds its attachments.
	if err := db.EraseTip(ctx, c.TipID, "chief", "data_request"); err != nil {
		t.Fatal(err)
	}
	for _, it := range items[:2] {
		for _, orig := range []bool{false, true} {
			if _, err := db.OpenMedia(ctx, c.TipID, it.ID, orig, "chief", ""); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("attachment %d (original %t) after erasure: %v, want ErrNotFound", it.ID, orig, err)
			}
		}
	}
	var sealedLeft int
	db.Pool().QueryRow(ctx, `SELECT count(*) FROM tip_media WHERE tip_id = $1 AND (original_sealed IS NOT NULL
		OR clean_sealed IS NOT NULL OR sha256_sealed IS NOT NULL OR source_sealed IS NOT NULL)`, c.TipID).Scan(&sealedLeft)
	if sealedLeft != 0 {
		t.Errorf("%d attachments keep sealed content after the erasure", sealedLeft)
	}
}

// A sender has at most as many uploads waiting as a report can carry;
// those never committed are purged when they expire, and a quick exit
// forgets them at once.
func TestUploadsAreCappedAndPurged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	file, _ := cleanedFile(t)
	for i := range flows.MaxMedia {
		if _, err := db.KeepUpload(ctx, "p", file); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	if _, err := db.KeepUpload(ctx, "p", file); !errors.Is(err, storage.ErrTooManyUploads) {
		t.Fatalf("one more: %v, want ErrTooManyUploads", err)
	}
	db.Pool().Exec(ctx, `UPDATE pending_media SET expires_at = now() - interval '1 second' WHERE ctid IN (SELECT ctid FROM pending_media LIMIT 3)`)
	if n, err := db.PurgeUploads(ctx); err != nil || n != 3 {
		t.Errorf("purged %d, %v; want 3", n, err)
	}
	if err := db.ForgetUploads(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	var left int
	db.Pool().QueryRow(ctx, `SELECT count(*) FROM pending_media`).Scan(&left)
	if left != 0 {
		t.Errorf("%d uploads left after the quick exit", left)
	}
}
