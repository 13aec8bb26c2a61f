package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"tinbao/bot/sms/smstest"
	"tinbao/bot/telegram/telegramtest"
	"tinbao/locales"
)

// Canaries: made-up values that must never reach the log, and must never be
// stored in clear except where the product keeps people's words on purpose.
// None is a real person's or number.
var (
	// Who a person is: in no log line and in no column at all.
	leakPhones = []string{
		"+84912345671",    // Twilio's From, E.164
		"0912 345 672",    // the gateway's phoneNumber, as a phone shows it
		"+84 912 345 673", // a second gateway phone, international with spaces
	}
	// The national numbers of the above, however written: checked as digits.
	leakDigits   = []string{"912345671", "912345672", "912345673"}
	leakChatTG   = int64(5550001234) // a Telegram chat (= user) ID
	leakChatTG2  = int64(5550005678)
	leakFirst    = "Hoa Canaryfirst"
	leakLast     = "Trần Leaklast"
	leakUsername = "canary_user_q7"
	// What people write: allowed only in the columns that hold it on
	// purpose (see wordsAllowedIn), never in the log.
	leakStory     = "Chị Trần Thị Storymai bị ông Lê Văn Storyquan giữ hộ chiếu, số của nó là 0987.654.321"
	leakStoryTG2  = "cứu tôi, tôi bị nhốt ở Bavet cùng anh Helpcanaryduc"
	leakStorySMS  = "co nguoi ten Smscanarylan ru con gai toi sang Trung Quoc"
	leakStoryGW   = "chu Gatewaycanarybinh giu giay to cua toi"
	leakStoryWeb  = "Webcanarythu bi giu o Campuchia, doi tien chuoc"
	leakReplyTG   = "Họ ở gần chợ, tên là Replycanaryphuong"
	leakNote      = "Đã gọi cho Notecanaryminh"
	leakFollowUp  = "Bạn có biết Followcanarytuan ở đâu không?"
	leakReferNote = "Cần chỗ ở cho Refercanaryha"
)

// wordsAllowedIn names, for each piece of text a person typed, the columns
// that keep it in clear on purpose: officers' notes (tip_notes.body), a
// referral's note (referrals.note) and an officer's message to the reporter
// (tip_messages.body, and outbox.body until it is sent). What the reporter
// wrote (the report's answers, their replies) is in no clear column at all:
// it is sealed under the report's data key, and read back through storage
// (sealedWords). Every other text, jsonb or array column of every table must
// hold none of it.
var wordsAllowedIn = map[string][]string{
	"Storymai":          nil,
	"Storyquan":         nil,
	"0987.654.321":      nil, // a number the reporter typed into the story
	"Helpcanaryduc":     nil,
	"Smscanarylan":      nil,
	"Gatewaycanarybinh": nil,
	"Webcanarythu":      nil,
	"Replycanaryphuong": nil,
	"Notecanaryminh":    {"tip_notes.body"},
	"Followcanarytuan":  {"tip_messages.body", "outbox.body"},
	"Refercanaryha":     {"referrals.note"},
}

func leakTGUpdate(updateID int, chat int64, text, data string) []byte {
	from := map[string]any{"id": chat, "is_bot": false, "first_name": leakFirst, "last_name": leakLast,
		"username": leakUsername, "language_code": "vi"}
	chatObj := map[string]any{"id": chat, "type": "private", "first_name": leakFirst, "last_name": leakLast, "username": leakUsername}
	var u map[string]any
	if data != "" {
		u = map[string]any{"update_id": updateID, "callback_query": map[string]any{
			"id": fmt.Sprint(updateID * 7), "from": from, "chat_instance": "-99", "data": data,
			"message": map[string]any{"message_id": 1000, "date": time.Now().Unix(), "text": "…", "chat": chatObj}}}
	} else {
		msg := map[string]any{"message_id": updateID, "date": time.Now().Unix(), "chat": chatObj, "from": from, "text": text}
		if strings.HasPrefix(text, "/") {
			msg["entities"] = []map[string]any{{"offset": 0, "length": len(strings.Fields(text)[0]), "type": "bot_command"}}
		}
		u = map[string]any{"update_id": updateID, "message": msg}
	}
	b, _ := json.Marshal(u)
	return b
}

// Every channel and every console action, with canaries in every field a
// person controls, the log at DEBUG: no canary in the log, none in clear in
// any column of any table (enumerated from information_schema, so a new
// column is covered at once) outside the ones that hold people's words on
// purpose, and there only the words.
func TestNoPersonalDataInLogsOrColumns(t *testing.T) {
	tg := telegramtest.NewServer(t)
	tw := smstest.NewTwilio("ACleak", "leakauthtoken0123456789")
	defer tw.Close()
	g := smstest.NewGateway("gw-user", "gw-pass-leak")
	defer g.Close()
	const secret = "leak-webhook-secret"
	s := startService(t, map[string]string{
		"LOG_LEVEL":          "debug",
		"TELEGRAM_BOT_TOKEN": telegramtest.Token, "TELEGRAM_API_URL": tg.URL, "TELEGRAM_WEBHOOK_SECRET": secret,
		"TWILIO_ACCOUNT_SID": "ACleak", "TWILIO_AUTH_TOKEN": "leakauthtoken0123456789", "TWILIO_FROM": "+15005550006",
		"TWILIO_API_URL": tw.URL,
		"SMSGATE_URL":    g.URL + "/message", "SMSGATE_USERNAME": "gw-user", "SMSGATE_PASSWORD": "gw-pass-leak",
		"SMSGATE_SIGNING_KEY": gatewayKey,
		"JOIN_WINDOW":         "200ms",
	})
	ctx := context.Background()

	// Telegram: a report that allows follow-up messages, and a cry for help.
	n := 90000
	tgSay := func(chat int64, text, data string) {
		t.Helper()
		n++
		if code, body := post(t, s.url+"/webhooks/telegram", secret, leakTGUpdate(n, chat, text, data)); code != http.StatusOK {
			t.Fatalf("webhook: %d %s", code, body)
		}
	}
	tgSay(leakChatTG, "/start", "")
	tgSay(leakChatTG, "/baotin", "")
	tgSay(leakChatTG, "", "skip")
	tgSay(leakChatTG, leakStory, "")
	tgSay(leakChatTG, "", "next")
	for range 7 {
		tgSay(leakChatTG, "", "skip")
	}
	tgSay(leakChatTG, "", "yes") // may write back
	tgSay(leakChatTG, "sau 8 giờ tối", "")
	before := len(tg.SentTo(leakChatTG))
	tgSay(leakChatTG, "", "send")
	ack := tg.WaitSent(leakChatTG, before+1, 10*time.Second)
	i := strings.Index(ack[len(ack)-1].Text, "TB-")
	if i < 0 {
		t.Fatalf("no acknowledgement with a code: %+v", ack[len(ack)-1])
	}
	ref := ack[len(ack)-1].Text[i : i+12]
	tgSay(leakChatTG, "/tracuu "+ref, "")
	// An update tinbao ignores (an edit), logged at DEBUG.
	n++
	edited := strings.Replace(string(leakTGUpdate(n, leakChatTG, leakStory+" (sửa)", "")), `"message"`, `"edited_message"`, 1)
	if code, body := post(t, s.url+"/webhooks/telegram", secret, []byte(edited)); code != http.StatusOK {
		t.Fatalf("edited message: %d %s", code, body)
	}

	tgSay(leakChatTG2, leakStoryTG2, "")
	tgSay(leakChatTG2, "", "no")
	tgSay(leakChatTG2, "", "yes")
	tgSay(leakChatTG2, "", "send_now")
	tgSay(leakChatTG2, "Bavet", "")
	tgSay(leakChatTG2, "", "skip")

	// Twilio: a report typed without marks, with a name in the story.
	twN := 0
	twSay := func(from, text string) {
		t.Helper()
		twN++
		sid := fmt.Sprintf("SM%032d", twN)
		before := len(tw.Messages())
		resp, err := tw.PostSigned(s.url+"/webhooks/twilio/sms", s.env["PUBLIC_URL"]+"/webhooks/twilio/sms",
			tw.InboundForm(sid, from, "+15005550006", text))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("twilio %q: %v %v", text, resp, err)
		}
		resp.Body.Close()
		waitFor(t, func() bool { return len(tw.Messages()) > before })
	}
	for _, m := range []string{"BAO TIN", "1", leakStorySMS, "0", "4", "2", "1", "2", "1"} {
		twSay(leakPhones[0], m)
	}
	// The gateway: a report from one phone, a help request and STOP from another.
	gwSay := func(from, text string) {
		t.Helper()
		before := len(g.Messages())
		_, resp, err := smstest.Event(s.url+"/webhooks/smsgate", gatewayKey, "sms:received", smstest.Received(from, text), time.Now())
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("gateway %q: %v %v", text, resp, err)
		}
		resp.Body.Close()
		if text != "STOP" {
			waitFor(t, func() bool { return len(g.Messages()) > before })
		}
	}
	for _, m := range []string{"BAO TIN", "1", leakStoryGW, "0", "4", "2", "1", "2", "1"} {
		gwSay(leakPhones[1], m)
	}
	for _, m := range []string{"GIUP", "1", "2", "1", "Tay Ninh", "2 4", "2", "1 3", "1"} {
		gwSay(leakPhones[2], m)
	}
	gwSay(leakPhones[2], "STOP")

	// The web chat: a report.
	w := newWebClient(t, s.url)
	w.send("/start", "")
	w.send("", "m:report")
	w.send("", "skip")
	w.send(leakStoryWeb, "")
	w.send("", "next")
	for range 7 { // where, when, people, child, danger, photos, contact
		w.send("", "skip")
	}
	w.send("gui", "")

	// The console: view, claim, note, follow-up, status, referral.
	if _, err := s.db.AddOfficer(ctx, "duty", "officer", "", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	o := newOfficer(t, s.console)
	if r := o.login("duty", "correct horse battery staple"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", r.StatusCode)
	}
	o.get("/queue")
	if code, _ := o.get("/tips/" + ref); code != http.StatusOK {
		t.Fatalf("view: %d", code)
	}
	for _, a := range []struct {
		path string
		form url.Values
	}{
		{"/claim", nil},
		{"/note", url.Values{"note": {leakNote}}},
		// A NUL (Postgres refuses it in text) and a browser's line breaks:
		// cleaned as reporters' words are, not a 503.
		{"/note", url.Values{"note": {"Ghi chú\x00 hai\r\ndòng"}}},
		{"/reply", url.Values{"body": {leakFollowUp}}},
		{"/status", url.Values{"status": {"verifying"}}},
		{"/refer", url.Values{"unit": {"1"}, "share": {"what"}, "note": {leakReferNote}}},
	} {
		if r, body := o.post("/tips/"+ref+a.path, a.form); r.StatusCode != http.StatusSeeOther {
			t.Errorf("console %s: %d %.200s", a.path, r.StatusCode, body)
		}
		o.get("/tips/" + ref)
	}
	// The follow-up reaches the reporter, who answers into the thread.
	waitFor(t, func() bool {
		for _, m := range tg.SentTo(leakChatTG) {
			if m.Text == leakFollowUp {
				return true
			}
		}
		return false
	})
	tgSay(leakChatTG, leakReplyTG, "")
	// Everything queued has gone out (or failed for good).
	outboxSettled(t, s.db)
	time.Sleep(300 * time.Millisecond) // the last log lines

	var tips int
	s.db.Pool().QueryRow(ctx, `SELECT count(*) FROM tips`).Scan(&tips)
	if tips != 6 {
		t.Errorf("%d reports, want 6 (Telegram ×2, Twilio, gateway ×2, web): this test did not go everywhere", tips)
	}

	identities := append([]string{fmt.Sprint(leakChatTG), fmt.Sprint(leakChatTG2), leakFirst, "Canaryfirst", leakLast, "Leaklast",
		leakUsername}, leakPhones...)
	identities = append(identities, leakDigits...)
	words := []string{}
	for w := range wordsAllowedIn {
		words = append(words, w)
	}

	// The log, at DEBUG, holds none of them, in any case or spelling.
	logs := s.log.String()
	if !strings.Contains(logs, `"level":"DEBUG"`) || !strings.Contains(logs, "http request") {
		t.Fatalf("the log is empty or not at debug:\n%.2000s", logs)
	}
	folded := locales.Fold(logs)
	for _, c := range append(identities, words...) {
		if strings.Contains(strings.ToLower(logs), strings.ToLower(c)) || strings.Contains(folded, locales.Fold(c)) {
			t.Errorf("the log holds %q", c)
		}
	}
	if strings.Contains(logs, ref) {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, ref) && strings.Contains(line, `"sender"`) && !strings.Contains(line, `"sender":"[dropped]"`) {
				t.Errorf("a line ties the code to a sender: %s", line)
			}
		}
	}

	// Every text-like column of every table in this test's schema.
	rows, err := s.db.Pool().Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND (data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')
		OR (data_type = 'ARRAY' AND udt_name IN ('_text', '_varchar')))
		AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE')
		ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for rows.Next() {
		var tbl, col string
		rows.Scan(&tbl, &col)
		cols = append(cols, tbl+"."+col)
	}
	rows.Close()
	if len(cols) < 20 {
		t.Fatalf("only %d text columns found: %v", len(cols), cols)
	}
	holds := func(col, needle string) bool {
		tbl, c, _ := strings.Cut(col, ".")
		var found bool
		q := fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %q WHERE strpos(lower(%q::text), lower($1)) > 0)`, tbl, c)
		if err := s.db.Pool().QueryRow(ctx, q, needle).Scan(&found); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return found
	}
	for _, col := range cols {
		for _, c := range identities {
			if holds(col, c) {
				t.Errorf("%s holds %q in clear", col, c)
			}
		}
		for _, w := range words {
			allowed := false
			for _, a := range wordsAllowedIn[w] {
				allowed = allowed || a == col
			}
			if !allowed && holds(col, w) {
				t.Errorf("%s holds %q, which belongs in %v only", col, w, wordsAllowedIn[w])
			}
		}
	}
	// The columns that keep words do keep them, and the sealed words open
	// with the reports' keys: the search works and no path was missed.
	var sealed strings.Builder
	refs, err := s.db.Pool().Query(ctx, `SELECT reference FROM tips`)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for refs.Next() {
		var ref string
		refs.Scan(&ref)
		all = append(all, ref)
	}
	refs.Close()
	for _, ref := range all {
		tip, err := s.db.TipByReference(ctx, ref)
		if err != nil {
			t.Fatalf("open %s: %v", ref, err)
		}
		fmt.Fprint(&sealed, tip.Details, tip.Distress)
		msgs, err := s.db.TipMessages(ctx, tip.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			sealed.WriteString(m.Body + "\n")
		}
	}
	for w, where := range wordsAllowedIn {
		if len(where) == 0 {
			if !strings.Contains(strings.ToLower(sealed.String()), strings.ToLower(w)) {
				t.Errorf("no sealed report holds %q: the test missed a path", w)
			}
			continue
		}
		if !holds(where[0], w) {
			t.Errorf("%s does not hold %q: the test missed a path", where[0], w)
		}
	}
}
