package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"tinbao/bot/telegram/telegramtest"
	"tinbao/media/mediatest"
	"tinbao/storage"
)

// documentUpdate is a message with a file sent "as a file", the way a photo
// keeps its EXIF on Telegram (a photo sent as a photo is recompressed).
func documentUpdate(updateID int, chatID int64, fileID, mime string, size int) []byte {
	b, _ := json.Marshal(map[string]any{
		"update_id": updateID,
		"message": map[string]any{
			"message_id": updateID, "date": time.Now().Add(2 * time.Second).Unix(), // after the question: no album
			"chat": map[string]any{"id": chatID, "type": "private", "first_name": firstName},
			"from": map[string]any{"id": chatID, "is_bot": false, "first_name": firstName, "language_code": "vi"},
			"document": map[string]any{"file_id": fileID, "file_unique_id": "u" + fileID, "file_name": "IMG_0001.JPG",
				"mime_type": mime, "file_size": size},
		},
	})
	return b
}

func (c *tgChat) sendFile(fileID, mime string, size int) {
	c.t.Helper()
	*c.next++
	c.post(documentUpdate(*c.next, c.chatID, fileID, mime, size))
}

// reportWithFile walks a report whose media step gets one file.
func reportWithFile(t *testing.T, c *tgChat, fileID string, size int) string {
	t.Helper()
	c.say("/baotin")
	c.press("skip") // category
	c.say("Có người rủ em tôi đi làm ở xa, đây là ảnh chụp nơi đó")
	c.press("next")
	for range 5 { // where, when, people, child, danger
		c.press("skip")
	}
	c.sendFile(fileID, "image/jpeg", size)
	if got := c.last().Text; !strings.Contains(got, "1") {
		t.Fatalf("after the photo: %q", got)
	}
	c.press("done")
	c.press("skip") // contact
	c.press("skip") // follow-up
	if got := c.last().Text; !strings.Contains(got, "1 ảnh") {
		t.Errorf("summary does not count the photo: %q", got)
	}
	before := len(c.tg.SentTo(c.chatID))
	c.press("send")
	sent := c.tg.WaitSent(c.chatID, before+1, 10*time.Second)
	if len(sent) <= before {
		t.Fatalf("no acknowledgement:\n%s", c.s.log)
	}
	i := strings.Index(sent[before].Text, "TB-")
	if i < 0 {
		t.Fatalf("acknowledgement without a code: %q", sent[before].Text)
	}
	return sent[before].Text[i : i+12]
}

// waitMedia waits until a report's attachments are all past pending.
func waitMedia(t *testing.T, s *service, tipID int64) []storage.MediaItem {
	t.Helper()
	var items []storage.MediaItem
	waitFor(t, func() bool {
		items, _ = s.db.TipMedia(context.Background(), tipID)
		for _, it := range items {
			if it.Status == "pending" {
				return false
			}
		}
		return len(items) > 0
	})
	return items
}

// A photo with EXIF GPS sent over Telegram is fetched after the report is
// committed (getFile, then the download URL), kept as the sealed original
// and a cleaned copy, and stored in clear nowhere.
func TestTelegramPhotoIsFetchedAndCleaned(t *testing.T) {
	s, tg, secret := startTelegram(t)
	ctx := context.Background()
	orig := mediatest.JPEG(40, 20, 6)
	const fileID = "BQACAgUAAxkBAAIBZ2dGPSsecretfileid"
	tg.AddFile(fileID, orig)
	c := s.telegramChat(t, tg, secret, 700101)
	ref := reportWithFile(t, c, fileID, len(orig))
	tip, err := s.db.TipByReference(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	items := waitMedia(t, s, tip.ID)
	if len(items) != 1 || items[0].Status != "fetched" || !items[0].HasClean || items[0].Width != 20 || items[0].Height != 40 {
		t.Fatalf("media = %+v\n%s", items, s.log)
	}
	if n := len(tg.Calls("getFile")); n != 1 || tg.Downloads() != 1 {
		t.Errorf("getFile %d times, %d downloads; want 1 each", n, tg.Downloads())
	}
	assertNotInClear(t, s, fileID, orig)
	if logs := s.log.String(); strings.Contains(logs, fileID) || strings.Contains(logs, "documents/file_") {
		t.Error("the log names the file ID or its path")
	}

	// In the console: the report page shows the cleaned copy inline…
	for _, a := range []struct{ user, role string }{{"duty", "officer"}, {"chief", "supervisor"}} {
		if _, err := s.db.AddOfficer(ctx, a.user, a.role, "", "correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
	}
	duty, chief := newOfficer(t, s.console), newOfficer(t, s.console)
	duty.login("duty", "correct horse battery staple")
	chief.login("chief", "correct horse battery staple")
	src := fmt.Sprintf("/tips/%s/media/%d", ref, items[0].ID)
	code, page := duty.get("/tips/" + ref)
	if code != http.StatusOK || !strings.Contains(page, `<img src="`+src+`"`) || strings.Contains(page, src+"/original") {
		t.Fatalf("report page (%d) lacks the photo, or offers an officer the original:\n%s", code, page)
	}
	resp, clean := fetch(t, duty, src)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" ||
		resp.Header.Get("Cache-Control") != "no-store" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "img-src 'self'") {
		t.Fatalf("cleaned copy: %d %v", resp.StatusCode, resp.Header)
	}
	// …with no EXIF, GPS or comment left, upright (20×40, red above blue).
	for name, b := range map[string][]byte{"APP1 marker": {0xFF, 0xE1}, "Exif": []byte("Exif"), "GPS": mediatest.GPSBytes(),
		"comment": []byte(mediatest.Comment)} {
		if bytes.Contains(clean, b) {
			t.Errorf("the console's copy holds the %s", name)
		}
	}
	img, err := jpeg.Decode(bytes.NewReader(clean))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 20 || b.Dy() != 40 {
		t.Errorf("console's copy is %v, want 20x40 upright", b)
	}
	if r, _, b, _ := img.At(10, 5).RGBA(); r < 2*b {
		t.Errorf("top of the upright photo is not red: %v", img.At(10, 5))
	}

	// The original (evidence) is a supervisor's to download, audited.
	if resp, _ := fetch(t, duty, src+"/original"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an officer downloads the original: %d, want 403", resp.StatusCode)
	}
	if _, page := chief.get("/tips/" + ref); !strings.Contains(page, src+"/original") {
		t.Error("the supervisor's page offers no original")
	}
	resp, got := fetch(t, chief, src+"/original")
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, orig) || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") ||
		resp.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(resp.Header.Get("Repr-Digest"), "sha-256=:") {
		t.Fatalf("original: %d, %d bytes, %v", resp.StatusCode, len(got), resp.Header)
	}
	var audited []string
	rows, _ := s.db.Pool().Query(ctx, `SELECT actor || ' ' || action FROM audit_log WHERE tip_id = $1 AND action LIKE 'media.%' ORDER BY id`, tip.ID)
	for rows.Next() {
		var a string
		rows.Scan(&a)
		audited = append(audited, a)
	}
	rows.Close()
	if want := "duty media.viewed,duty media.original_refused,chief media.original_viewed"; strings.Join(audited, ",") != want {
		t.Errorf("audit = %v, want %s", audited, want)
	}

	// Erasing the report makes its photo unreadable, original and copy.
	if err := s.db.EraseTip(ctx, tip.ID, "chief", "data_request"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{src, src + "/original"} {
		if resp, body := fetch(t, chief, path); resp.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte{0xFF, 0xD8}) {
			t.Errorf("%s after the erasure: %d", path, resp.StatusCode)
		}
	}
}

// fetch GETs a console path as an officer and returns the raw answer.
func fetch(t *testing.T, o *officerClient, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := o.http.Get(o.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// A file over the limit is refused when it is sent, with a word saying so,
// and never fetched; one that Telegram fails to hand over is tried again.
func TestTelegramFileLimitsAndRetries(t *testing.T) {
	s, tg, secret := startTelegram(t)
	c := s.telegramChat(t, tg, secret, 700102)
	c.say("/baotin")
	c.press("skip")
	c.say("Có người bị lừa sang Lào")
	c.press("next")
	for range 5 {
		c.press("skip")
	}
	c.sendFile("huge-file", "video/mp4", 15<<20)
	if got := c.last().Text; !strings.Contains(got, "10 MB") {
		t.Errorf("a 15 MB file: %q, want to be told the limit", got)
	}
	orig := mediatest.PNG(16, 16)
	tg.AddFile("small-file", orig)
	tg.FailNext("download", 1, telegramtest.Error{Code: 500, Description: "Internal Server Error"})
	c.sendFile("small-file", "image/png", len(orig))
	c.press("done")
	c.press("skip")
	c.press("skip")
	c.press("send")
	var tip storage.Tip
	waitFor(t, func() bool {
		tips, _ := s.db.OpenTips(context.Background(), 10)
		if len(tips) == 1 {
			tip = tips[0]
		}
		return len(tips) == 1
	})
	if len(tip.Media) != 1 {
		t.Errorf("report keeps %d attachments, want only the small one", len(tip.Media))
	}
	// The first download fails; the retry comes after the backoff (5 s).
	deadline := time.Now().Add(20 * time.Second)
	var items []storage.MediaItem
	for time.Now().Before(deadline) {
		items, _ = s.db.TipMedia(context.Background(), tip.ID)
		if len(items) == 1 && items[0].Status == "fetched" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(items) != 1 || items[0].Status != "fetched" || items[0].ContentType != "image/png" || tg.Downloads() != 2 {
		t.Fatalf("media = %+v after %d downloads, want fetched on the second", items, tg.Downloads())
	}
}

// assertNotInClear finds neither the file ID nor any run of the original's
// bytes (its GPS block above all) in any column of any table that could
// hold them.
func assertNotInClear(t *testing.T, s *service, fileID string, orig []byte) {
	t.Helper()
	var found int
	err := s.db.Pool().QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM tip_media m WHERE m::text LIKE '%'||$1||'%'
			OR position($2::bytea IN COALESCE(m.original_sealed, '')) > 0
			OR position($2::bytea IN COALESCE(m.clean_sealed, '')) > 0
			OR position($3::bytea IN COALESCE(m.original_sealed, '')) > 0)
		+ (SELECT count(*) FROM tips t WHERE t::text LIKE '%'||$1||'%' OR position($2::bytea IN COALESCE(t.sealed, '')) > 0)
		+ (SELECT count(*) FROM pending_media p WHERE p::text LIKE '%'||$1||'%'
			OR position($2::bytea IN p.original_sealed) > 0)`,
		fileID, mediatest.GPSBytes(), orig[len(orig)/2:len(orig)/2+32]).Scan(&found)
	if err != nil || found != 0 {
		t.Errorf("file ID or file content stored in clear: %d rows, %v", found, err)
	}
}

// photo uploads a file as the page does and returns the status and answer.
func (w *webClient) photo(body []byte, contentType string) (int, webPhotoAnswer) {
	w.t.Helper()
	w.n++
	req, _ := http.NewRequest(http.MethodPost, w.base+"/chat/photo", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Tinbao", "1")
	req.Header.Set("X-Tinbao-ID", fmt.Sprintf("p%d", w.n))
	resp, err := w.http.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out webPhotoAnswer
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

type webPhotoAnswer struct {
	Replies []struct {
		Text   string `json:"text"`
		Attach bool   `json:"attach"`
	} `json:"replies"`
	Error   string `json:"error"`
	Message string `json:"message"`
}

// The web chat takes photos at the report's photo question: too big → 413,
// not a JPEG or PNG → 415, each with a plain word in Vietnamese; a good one
// is cleaned, counted in the summary ("1 ảnh") and attached at the commit,
// with nothing of its metadata left in the console's copy.
func TestWebChatPhoto(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	w := newWebClient(t, s.url)
	w.send("", "m:report")
	w.send("", "skip")
	w.send("co nguoi ru em toi di lam o xa", "")
	w.send("", "next")
	var replies []webReply
	for range 5 { // where, when, people, child, danger
		replies, _ = w.send("", "skip")
	}
	if len(replies) != 1 || !strings.Contains(replies[0].Text, "ảnh") {
		t.Fatalf("the photo question = %+v", replies)
	}
	// The page offers the photo button on that question.
	req, _ := http.NewRequest(http.MethodPost, s.url+"/chat/send", strings.NewReader(`{"id":"again1","choice":"m:again"}`))
	req.Header.Set("X-Tinbao", "1")
	resp, err := w.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var again webPhotoAnswer
	json.NewDecoder(resp.Body).Decode(&again)
	resp.Body.Close()
	if len(again.Replies) == 0 || !again.Replies[len(again.Replies)-1].Attach {
		t.Errorf("the photo question asked again carries no photo button: %+v", again)
	}

	// Another site cannot post photos; nor can a browser with no conversation.
	req, _ = http.NewRequest(http.MethodPost, s.url+"/chat/photo", bytes.NewReader(mediatest.PNG(4, 4)))
	req.Header.Set("X-Tinbao", "1")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r, err := w.http.Do(req); err != nil || r.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site photo: %v %v, want 403", r, err)
	}

	big := append(mediatest.JPEG(8, 8, 1), bytes.Repeat([]byte{0}, 10<<20)...)
	if code, a := w.photo(big, "image/jpeg"); code != http.StatusRequestEntityTooLarge || !strings.Contains(a.Message, "10 MB") {
		t.Errorf("11 MB: %d %+v, want 413 and the limit in words", code, a)
	}
	if code, a := w.photo([]byte("%PDF-1.7\n1 0 obj <<>> endobj\n"), "image/jpeg"); code != http.StatusUnsupportedMediaType ||
		!strings.Contains(a.Message, "JPEG") {
		t.Errorf("a PDF named a JPEG: %d %+v, want 415 and what is taken", code, a)
	}
	orig := mediatest.JPEG(40, 20, 6)
	code, a := w.photo(orig, "image/jpeg")
	if code != http.StatusOK || len(a.Replies) != 1 || !strings.Contains(a.Replies[0].Text, "1") || !a.Replies[0].Attach {
		t.Fatalf("a good photo: %d %+v", code, a)
	}
	w.send("", "done")
	replies, _ = w.send("", "skip") // contact
	if len(replies) != 1 || !strings.Contains(replies[0].Text, "Ảnh/tệp: 1 ảnh") {
		t.Fatalf("summary = %+v, want it to count the photo", replies)
	}
	w.send("", "send")
	var tips []storage.Tip
	waitFor(t, func() bool { tips, _ = s.db.OpenTips(ctx, 10); return len(tips) == 1 })
	items, err := s.db.TipMedia(ctx, tips[0].ID)
	if err != nil || len(items) != 1 || items[0].Status != "fetched" || items[0].Width != 20 || items[0].Height != 40 {
		t.Fatalf("attached = %+v, %v", items, err)
	}
	clean, err := s.db.OpenMedia(ctx, tips[0].ID, items[0].ID, false, "test", "")
	if err != nil || bytes.Contains(clean.Data, []byte("Exif")) || bytes.Contains(clean.Data, mediatest.GPSBytes()) {
		t.Fatalf("cleaned copy: %v (or it keeps EXIF/GPS)", err)
	}
	assertNotInClear(t, s, "upload:", orig)
	var waiting int
	s.db.Pool().QueryRow(ctx, `SELECT count(*) FROM pending_media`).Scan(&waiting)
	if waiting != 0 {
		t.Errorf("%d uploads still waiting after the commit", waiting)
	}
}
