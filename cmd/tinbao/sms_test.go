package main

import (
	"cmp"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tinbao/bot"
	"tinbao/bot/sms"
	"tinbao/bot/sms/smstest"
	"tinbao/flows"
	"tinbao/identity"
	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// A made-up number (never a real one in the repo), as a person's phone
// sends it, and as tinbao normalises it.
const (
	victimLocal = "0900 000 001"
	victimE164  = "+84900000001"
	gatewayKey  = "gateway-signing-key"
)

// smsPhone is a person with a basic phone writing to the SMS gateway.
type smsPhone struct {
	t    *testing.T
	s    *service
	g    *smstest.Gateway
	from string
}

// say sends an SMS and waits for tinbao's answer (one SMS), which it returns.
func (p *smsPhone) say(text string) string {
	p.t.Helper()
	before := len(p.g.SentTo(victimE164))
	p.post(text, http.StatusOK)
	got := p.g.WaitSent(victimE164, before+1, 10*time.Second)
	if len(got) <= before {
		p.t.Fatalf("no answer to %q\n%s", text, p.s.log)
	}
	return got[len(got)-1].Body
}

// gatewayPhone starts the service on a fake SMS gateway and gives a person
// writing to it (answering within a second of each reply: no burst).
func gatewayPhone(t *testing.T) *smsPhone {
	g := smstest.NewGateway("gw-user", "gw-pass")
	t.Cleanup(g.Close)
	s := startService(t, map[string]string{"SMSGATE_URL": g.URL + "/message", "SMSGATE_USERNAME": "gw-user",
		"SMSGATE_PASSWORD": "gw-pass", "SMSGATE_SIGNING_KEY": gatewayKey, "JOIN_WINDOW": "200ms"})
	return &smsPhone{t: t, s: s, g: g, from: victimLocal}
}

// unanswered sends texts and says what tinbao sent back within a while:
// nothing, after an opt-out.
func (p *smsPhone) unanswered(wait time.Duration, texts ...string) {
	p.t.Helper()
	before := len(p.g.SentTo(victimE164))
	for _, text := range texts {
		p.post(text, http.StatusOK)
	}
	time.Sleep(wait)
	if got := p.g.SentTo(victimE164); len(got) != before {
		p.t.Errorf("after %q, %d more SMS were sent: %q", texts, len(got)-before, got[len(got)-1].Body)
	}
}

func (p *smsPhone) post(text string, want int) string {
	p.t.Helper()
	id, resp, err := smstest.Event(p.s.url+"/webhooks/smsgate", gatewayKey, "sms:received", smstest.Received(p.from, text), time.Now())
	if err != nil || resp.StatusCode != want {
		p.t.Fatalf("post %q: %v %v, want %d", text, resp, err, want)
	}
	resp.Body.Close()
	return id
}

// A victim with only a basic phone asks for help by SMS through the gateway
// on a Vietnamese SIM: signed webhooks in, the real client out to the fake;
// every text GSM-7 in one segment; the acknowledgement tracked to delivery,
// receipts out of order ending at the highest state; a replayed event, a
// forged one and a stale one change nothing; STOP is honoured; no phone
// number reaches the logs.
func TestSMSHelpThroughTheGateway(t *testing.T) {
	g := smstest.NewGateway("gw-user", "gw-pass")
	defer g.Close()
	s := startService(t, map[string]string{"SMSGATE_URL": g.URL + "/message", "SMSGATE_USERNAME": "gw-user",
		"SMSGATE_PASSWORD": "gw-pass", "SMSGATE_SIGNING_KEY": gatewayKey,
		"JOIN_WINDOW": "200ms"}) // this person answers within a second of each reply; no burst

	p := &smsPhone{t: t, s: s, g: g, from: victimLocal}

	helpBySMS(t, p.say)
	tips, _ := s.db.OpenTips(context.Background(), 10)
	if len(tips) != 1 || tips[0].Channel != "sms" || tips[0].Kind != "help" || tips[0].Details["needs"] != "shelter,home" ||
		tips[0].Details["consent_police"] != "yes" || tips[0].Details["consent_support"] != "no" {
		t.Fatalf("tips = %+v", tips)
	}
	sent := g.SentTo(victimE164)
	for _, m := range sent {
		if enc, n := sms.Count(m.Body); enc != sms.GSM7 || n != 1 {
			t.Errorf("SMS in %s, %d segments: %q", enc, n, m.Body)
		}
	}
	if len(sent) > 10 {
		t.Errorf("a help request cost %d SMS, want at most 10", len(sent))
	}

	// Receipts for the acknowledgement, out of order and twice: delivered.
	ack := sent[len(sent)-1]
	for _, ev := range []string{"sms:delivered", "sms:sent", "sms:delivered"} {
		_, resp, err := smstest.Event(s.url+"/webhooks/smsgate", gatewayKey, ev, smstest.Report(ack, ev), time.Now())
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %v %v", ev, resp, err)
		}
	}
	msgs, _ := s.db.OutboxForTip(context.Background(), tips[0].ID)
	if len(msgs) != 1 || msgs[0].Status != "delivered" || msgs[0].ProviderMessageID != ack.ID {
		t.Errorf("acknowledgement = %+v, want delivered", msgs)
	}

	// A status lookup: one SMS, one segment.
	if got := p.say("TRA CUU " + strings.ToLower(tips[0].Reference)); !strings.Contains(got, tips[0].Reference) {
		t.Errorf("lookup = %q", got)
	}

	// The gateway retries an event it thinks failed: same ID, no new effect.
	before := len(g.Messages())
	id, resp, _ := smstest.Event(s.url+"/webhooks/smsgate", gatewayKey, "sms:received", smstest.Received(p.from, "BAO TIN"), time.Now())
	resp.Body.Close()
	g.WaitSent(victimE164, before+1, 5*time.Second)
	resp, _ = smstest.EventWithID(s.url+"/webhooks/smsgate", gatewayKey, id, "sms:received", smstest.Received(p.from, "BAO TIN"), time.Now())
	if resp.StatusCode != http.StatusOK {
		t.Errorf("replayed event: %d, want 200", resp.StatusCode)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := len(g.Messages()); n != before+1 {
		t.Errorf("a replayed event sent %d more SMS, want 1 in all", n-before)
	}

	// Forged or stale: 401, and nothing happens.
	var rows int
	count := func() int {
		s.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM outbox`).Scan(&rows)
		return rows
	}
	outbox := count()
	_, resp, _ = smstest.Event(s.url+"/webhooks/smsgate", "wrong-key", "sms:received", smstest.Received(p.from, "GIUP"), time.Now())
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged event: %d, want 401", resp.StatusCode)
	}
	_, resp, _ = smstest.Event(s.url+"/webhooks/smsgate", gatewayKey, "sms:received", smstest.Received(p.from, "GIUP"), time.Now().Add(-10*time.Minute))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("stale event: %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+"/webhooks/smsgate", strings.NewReader(strings.Repeat("x", 2<<20)))
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("huge body: %v %v, want 413", r, err)
	}
	if n := count(); n != outbox {
		t.Errorf("refused events queued %d messages", n-outbox)
	}

	// STOP: silence, and nothing more to this number until START. The GIUP
	// written meanwhile is not lost: START asks its question.
	p.unanswered(2*time.Second, "STOP", "GIUP")
	if got := p.say("START"); !strings.Contains(got, "tra loi do") || !strings.Contains(got, "an toan") {
		t.Errorf("after START: %q, want the question of the GIUP sent while stopped", got)
	}
	// And a report, through the same gateway.
	reportBySMS(t, p.say)
	if tips, _ := s.db.OpenTips(context.Background(), 10); len(tips) != 2 || tips[1].Kind != "tip" || tips[1].Channel != "sms" {
		t.Errorf("tips after a report = %+v", tips)
	}

	for _, number := range []string{"900000001", "0900 000 001", victimE164} {
		if strings.Contains(s.log.String(), number) {
			t.Errorf("the phone number %q is in the log", number)
		}
	}
}

// twilioPhone is a person writing to a Twilio number, from victimE164
// unless from says another.
type twilioPhone struct {
	t    *testing.T
	s    *service
	tw   *smstest.Twilio
	n    int
	sid  string
	from string
}

func (p *twilioPhone) post(text string) *http.Response {
	p.t.Helper()
	p.n++
	p.sid = "SM" + strings.Repeat("0", 30) + string(rune('a'+p.n/10)) + string(rune('a'+p.n%10))
	resp, err := p.tw.PostSigned(p.s.url+"/webhooks/twilio/sms", p.s.env["PUBLIC_URL"]+"/webhooks/twilio/sms",
		p.tw.InboundForm(p.sid, cmp.Or(p.from, victimE164), "+15005550006", text))
	if err != nil {
		p.t.Fatal(err)
	}
	return resp
}

func (p *twilioPhone) say(text string) string {
	p.t.Helper()
	before := len(p.tw.SentTo(victimE164))
	resp := p.post(text)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<Response/>") {
		p.t.Fatalf("%q: %d %s, want empty TwiML", text, resp.StatusCode, body)
	}
	got := p.tw.WaitSent(victimE164, before+1, 10*time.Second)
	if len(got) <= before {
		p.t.Fatalf("no answer to %q\n%s", text, p.s.log)
	}
	return got[len(got)-1].Body
}

// A report by SMS through Twilio: signed webhooks checked against
// PUBLIC_URL, empty TwiML, replies through the API with a status callback,
// callbacks in any order, a 429 retried, 21610 honoured as an opt-out.
func TestSMSReportThroughTwilio(t *testing.T) {
	tw := smstest.NewTwilio("ACtest", "authtoken0123456789abcdef")
	defer tw.Close()
	s := startService(t, map[string]string{"TWILIO_ACCOUNT_SID": "ACtest", "TWILIO_AUTH_TOKEN": "authtoken0123456789abcdef",
		"TWILIO_FROM": "+15005550006", "TWILIO_API_URL": tw.URL, "JOIN_WINDOW": "200ms"})
	p := &twilioPhone{t: t, s: s, tw: tw}

	tw.FailNext(1, http.StatusTooManyRequests, 20429) // the first send is throttled, then retried
	reportBySMS(t, p.say)
	tips, _ := s.db.OpenTips(context.Background(), 10)
	if len(tips) != 1 || tips[0].Channel != "sms" || tips[0].Kind != "tip" || tips[0].Category != "lured" {
		t.Fatalf("tips = %+v", tips)
	}
	sent := tw.SentTo(victimE164)
	ack := sent[len(sent)-1]
	if ack.StatusCallback != s.env["PUBLIC_URL"]+"/webhooks/twilio/status" || ack.From != "+15005550006" {
		t.Errorf("sent with callback %q from %q", ack.StatusCallback, ack.From)
	}
	if len(sent) > 10 {
		t.Errorf("a report cost %d SMS, want at most 10", len(sent))
	}
	// Callbacks out of order and twice: delivered, never back.
	for _, st := range []string{"sent", "delivered", "sent", "queued", "delivered"} {
		resp, err := tw.Callback(ack, st, "")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("callback %s: %v %v", st, resp, err)
		}
	}
	msgs, _ := s.db.OutboxForTip(context.Background(), tips[0].ID)
	if len(msgs) != 1 || msgs[0].Status != "delivered" {
		t.Errorf("acknowledgement = %+v, want delivered", msgs)
	}

	// A help request and a lookup through the same Twilio number.
	helpBySMS(t, p.say)
	tips, _ = s.db.OpenTips(context.Background(), 10)
	if len(tips) != 2 || tips[1].Kind != "help" {
		t.Fatalf("tips after a help request = %+v", tips)
	}
	if got := p.say("TRA CUU " + tips[1].Reference); !strings.Contains(got, tips[1].Reference) {
		t.Errorf("lookup = %q", got)
	}
	var outbox int
	s.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM outbox`).Scan(&outbox)

	// Forged: 403, nothing stored; signed over another URL (the Host
	// header is never trusted): 403; a signed form without MessageSid: 400.
	form := tw.InboundForm("SMforged", victimE164, "+15005550006", "GIUP")
	req, _ := http.NewRequest(http.MethodPost, s.url+"/webhooks/twilio/sms", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", "bm90IGEgc2lnbmF0dXJl")
	if r, _ := http.DefaultClient.Do(req); r.StatusCode != http.StatusForbidden {
		t.Errorf("forged: %d, want 403", r.StatusCode)
	}
	if r, _ := tw.PostSigned(s.url+"/webhooks/twilio/sms", "https://elsewhere.example/webhooks/twilio/sms", form); r.StatusCode != http.StatusForbidden {
		t.Errorf("signed for another URL: %d, want 403", r.StatusCode)
	}
	bad := url.Values{"From": {victimE164}, "Body": {"GIUP"}}
	if r, _ := tw.PostSigned(s.url+"/webhooks/twilio/sms", s.env["PUBLIC_URL"]+"/webhooks/twilio/sms", bad); r.StatusCode != http.StatusBadRequest {
		t.Errorf("no MessageSid: %d, want 400", r.StatusCode)
	}

	var after int
	if s.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM outbox`).Scan(&after); after != outbox {
		t.Errorf("refused webhooks queued %d messages", after-outbox)
	}

	// A replayed MessageSid: 200, nothing new.
	before := len(tw.Messages())
	resp, _ := tw.PostSigned(s.url+"/webhooks/twilio/sms", s.env["PUBLIC_URL"]+"/webhooks/twilio/sms",
		tw.InboundForm(p.sid, victimE164, "+15005550006", "1"))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("replay: %d", resp.StatusCode)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := len(tw.Messages()); n != before {
		t.Errorf("a replayed MessageSid sent %d SMS", n-before)
	}

	// Twilio says the number unsubscribed (21610): undeliverable, and
	// nothing more is sent to it.
	tw.FailNext(1, http.StatusBadRequest, 21610)
	resp = p.post("GIUP")
	resp.Body.Close()
	var status string
	waitFor(t, func() bool {
		s.db.Pool().QueryRow(context.Background(), `SELECT status FROM outbox ORDER BY id DESC LIMIT 1`).Scan(&status)
		return status == "undeliverable"
	})
	before = len(tw.Messages())
	resp = p.post("1")
	resp.Body.Close()
	time.Sleep(2 * time.Second)
	if n := len(tw.Messages()); n != before {
		t.Errorf("%d SMS sent to a number that unsubscribed", n-before)
	}
	if strings.Contains(s.log.String(), "900000001") {
		t.Error("the phone number is in the log")
	}
}

// helpBySMS asks for help by SMS, answering as a person with a basic phone:
// numbers, several at once, 0 to skip. say sends one SMS and returns the answer.
func helpBySMS(t *testing.T, say func(string) string) {
	t.Helper()
	if first := say("GIUP"); !strings.Contains(first, "111") || !strings.Contains(first, "an toan") {
		t.Errorf("first answer = %q, want what this is, the numbers and the safety question", first)
	}
	for _, step := range []struct{ say, wantIn string }{
		{"1", "nguy hiem"},      // safe to write
		{"2", "Ai can giup"},    // not in danger
		{"1", "dang o dau"},     // myself
		{"Tay Ninh", "1 3"},     // where; the needs list
		{"2 4", "nhan cho ban"}, // two needs in one SMS
		{"2", "dong y"},         // do not write first; the consents
		{"1 3", "Ban xem lai"},  // police and follow-up, not support
		{"1", "ma de hoi"},      // send: the acknowledgement
	} {
		if got := say(step.say); !strings.Contains(got, step.wantIn) {
			t.Fatalf("after %q: %q, want %q", step.say, got, step.wantIn)
		}
	}
}

// reportBySMS reports by SMS, typed without marks.
func reportBySMS(t *testing.T, say func(string) string) {
	t.Helper()
	if got := say("BAO TIN"); !strings.Contains(got, "1 Viec nhe luong cao") {
		t.Fatalf("menu of kinds = %q", got)
	}
	for _, step := range []struct{ say, wantIn string }{
		{"1", "Ke chuyen"},
		{"co nguoi tren facebook ru con gai toi di lam nha hang o Trung Quoc", "o dau"},
		{"0", "tre em"}, // 0 skips "where"
		{"4", "nguy hiem"},
		{"2", "An danh"},
		{"1", "nhan vao so nay"},
		{"2", "Ban xem lai"},
		{"1", "ma de hoi"},
	} {
		if got := say(step.say); !strings.Contains(got, step.wantIn) {
			t.Fatalf("after %q: %q, want %q", step.say, got, step.wantIn)
		}
	}
}

// "DUNG" is the contract's opt-out word, wherever it comes; typed without
// marks it may also mean "đúng" (right, yes), so one text says the messages
// stop and how to undo it (STOP gets none). Mid-request the draft waits:
// BAT DAU asks again the question the person was at. (It used to answer
// the question: a person who wrote it because someone was watching got the
// next question, and "in danger: yes".)
func TestSMSDungStopsAndBatDauResumes(t *testing.T) {
	p := gatewayPhone(t)
	if got := p.say("GIUP"); !strings.Contains(got, "1 Co") {
		t.Fatalf("GIUP: %q, want the safety question", got)
	}
	if got := p.say("dung"); !strings.Contains(got, "BAT DAU de tra loi tiep") || strings.Contains(strings.ToLower(got), "nguy hiem") {
		t.Errorf("dung at a yes-or-no question: %q, want the one text saying the messages stop and how to go on", got)
	}
	p.unanswered(1500 * time.Millisecond) // nothing more, not even the next question
	if got := p.say("BAT DAU"); !strings.Contains(got, "tra loi do") || !strings.Contains(got, "an toan") {
		t.Fatalf("BAT DAU mid-request: %q, want the safety question asked again", got)
	}
	if got := p.say("1"); !strings.Contains(strings.ToLower(got), "nguy hiem") {
		t.Errorf("after BAT DAU, 1: %q, want the next question (danger)", got)
	}
	p.say("HUY") // nothing on the screen to answer now
	// At rest, too, one text says so and how to undo it, and then nothing
	// more goes.
	if got := p.say("Dung"); !strings.Contains(got, "BAT DAU") {
		t.Errorf("dung at rest: %q, want the one text saying the messages stop and how to undo it", got)
	}
	p.unanswered(1500*time.Millisecond, "GIUP")
	// The reply withheld is the person's wish, not a fault for the
	// operators' error alerts.
	withheld := false
	for _, line := range strings.Split(p.s.log.String(), "\n") {
		if strings.Contains(line, "outbox message failed") {
			withheld = withheld || strings.Contains(line, `"level":"INFO"`) && strings.Contains(line, "no more messages")
			if strings.Contains(line, `"level":"ERROR"`) {
				t.Errorf("a reply withheld after an opt-out is logged as an error: %s", line)
			}
		}
	}
	if !withheld {
		t.Error("the reply withheld after the opt-out is not logged")
	}
	if got := p.say("BAT DAU"); !strings.Contains(got, "tra loi do") || !strings.Contains(got, "an toan") {
		t.Errorf("after BAT DAU: %q, want the question of the GIUP sent while stopped", got)
	}
	p.say("HUY")
	if got := p.say("BAT DAU"); !strings.Contains(got, "1 Bao tin") {
		t.Errorf("BAT DAU at rest: %q, want the menu", got)
	}
	// A call for help ends an opt-out as BAT DAU does: whoever holds the
	// phone now asks for help (the STOP may not have been theirs), and
	// silence would leave them without even the emergency numbers.
	p.unanswered(1500*time.Millisecond, "STOP", "cho toi hoi")
	if got := p.say("cuu toi, ho nhot toi"); !strings.Contains(got, "113") {
		t.Errorf("a call for help after STOP: %q, want the emergency numbers", got)
	}
}

// After an officer asked ("Chị có phải mẹ của cháu không?"), "dung" is the
// mother's answer, "đúng" (yes): it reaches the officer's thread, the
// number is not opted out, and one line says how to stop the texts if
// that was meant. (It cut her off from the officer: SMS trial.)
func TestSMSDungAnswersTheOfficer(t *testing.T) {
	p := gatewayPhone(t)
	p.say("BAO TIN")
	for _, step := range []struct{ say, wantIn string }{
		{"1", "Ke chuyen"},
		{"co nguoi ru con gai toi di lam o Dong Thap", "o dau"},
		{"0", "tre em"},
		{"4", "nguy hiem"},
		{"2", "An danh"},
		{"1", "nhan vao so nay"},
		{"1", "Luc nao"},
		{"sau 20h", "Ban xem lai"},
		{"1", "ma de hoi"},
	} {
		if got := p.say(step.say); !strings.Contains(got, step.wantIn) {
			t.Fatalf("after %q: %q, want %q", step.say, got, step.wantIn)
		}
	}
	ctx := context.Background()
	tips, _ := p.s.db.OpenTips(ctx, 10)
	if len(tips) != 1 || !tips[0].FollowUp {
		t.Fatalf("tips = %+v, want one that allows messages", tips)
	}
	before := len(p.g.SentTo(victimE164))
	if _, err := p.s.db.QueueFollowUp(ctx, tips[0].ID, "officer1", "Chi co phai la me cua chau khong?"); err != nil {
		t.Fatal(err)
	}
	// The officer's question itself, not the report's acknowledgement,
	// which may still be on its way before it (one person's messages go
	// in order).
	waitFor(t, func() bool {
		for _, m := range p.g.SentTo(victimE164)[before:] {
			if strings.Contains(m.Body, "Chi co phai la me") {
				return true
			}
		}
		return false
	})
	got := p.say("dung")
	if !strings.Contains(got, "STOP") || !strings.Contains(got, tips[0].Reference) || strings.Contains(got, "ngung nhan tin. Neu") {
		t.Errorf("dung after the officer's question: %q, want it passed on, with how to stop if meant", got)
	}
	var optouts int
	p.s.db.Pool().QueryRow(ctx, `SELECT count(*) FROM sms_optouts`).Scan(&optouts)
	if optouts != 0 {
		t.Error("the mother's yes opted her out")
	}
	thread, _ := p.s.db.TipMessages(ctx, tips[0].ID)
	if len(thread) == 0 || thread[len(thread)-1].Body != "dung" {
		t.Errorf("thread = %+v, want her dung in it", thread)
	}
}

// An officer wrote to an SMS reporter who had sent STOP, with no warning,
// and then saw only "undeliverable: the person asked for no more messages
// (STOP)". The report page now says so above the reply form, in Vietnamese,
// and the message's failure reads in Vietnamese in the thread and the list
// of messages sent.
func TestConsoleSaysSMSSenderOptedOut(t *testing.T) {
	p := gatewayPhone(t)
	// A report whose sender allows messages ("1" at "may we text this
	// number?").
	for _, step := range []struct{ say, wantIn string }{
		{"BAO TIN", "1 Viec nhe luong cao"}, {"1", "Ke chuyen"}, {"co nguoi ru con gai toi di lam o Trung Quoc", "o dau"},
		{"0", "tre em"}, {"4", "nguy hiem"}, {"2", "An danh"}, {"1", "nhan vao so nay"}, {"1", "an toan"}, {"0", "Ban xem lai"},
		{"1", "ma de hoi"},
	} {
		if got := p.say(step.say); !strings.Contains(got, step.wantIn) {
			t.Fatalf("after %q: %q, want %q", step.say, got, step.wantIn)
		}
	}
	ctx := context.Background()
	tips, err := p.s.db.OpenTips(ctx, 10)
	if err != nil || len(tips) != 1 || tips[0].Channel != "sms" || !tips[0].FollowUp {
		t.Fatalf("tips = %+v (%v), want one SMS report that allows messages", tips, err)
	}
	ref := tips[0].Reference
	if _, err := p.s.db.AddOfficer(ctx, "duty", "officer", "", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	o := newOfficer(t, p.s.console)
	o.login("duty", "correct horse battery staple")
	const warning = "Người này đã nhắn DỪNG/STOP: tin nhắn sẽ không đến được, cho đến khi họ nhắn BAT DAU."
	if _, page := o.get("/tips/" + ref); strings.Contains(page, warning) {
		t.Error("the warning is shown before the person sent STOP")
	}
	p.unanswered(500*time.Millisecond, "STOP")
	_, page := o.get("/tips/" + ref)
	form := strings.Index(page, `action="/tips/`+ref+`/reply"`)
	if i := strings.Index(page, warning); i < 0 || form < 0 || i > form {
		t.Fatalf("no warning above the reply form after STOP:\n%s", page)
	}
	o.post("/tips/"+ref+"/claim", nil)
	if r, _ := o.post("/tips/"+ref+"/reply", url.Values{"body": {"Bạn có an toàn không?"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply: %d", r.StatusCode)
	}
	waitFor(t, func() bool {
		msgs, _ := p.s.db.OutboxForTip(ctx, tips[0].ID)
		for _, m := range msgs {
			if m.Kind == "followup" && m.Status == "undeliverable" {
				return true
			}
		}
		return false
	})
	_, page = o.get("/tips/" + ref)
	const said = "Người này đã nhắn DỪNG/STOP, không nhận tin nhắn nữa cho đến khi họ nhắn BAT DAU."
	if strings.Contains(page, "no more messages") || strings.Count(page, said) != 2 {
		t.Errorf("the failed message's reason is not said in Vietnamese in the thread and the list of messages sent:\n%s", page)
	}
	// BAT DAU: the warning goes.
	p.say("BAT DAU")
	if _, page := o.get("/tips/" + ref); strings.Contains(page, warning) {
		t.Error("the warning stays after BAT DAU")
	}
}

// One phone, both numbers: a person who asked for help through the gateway
// at home texts the Twilio number (from abroad, say) for news. The code is
// theirs through either number, for a lookup and for what we hold; another
// phone still hears "not found", as for a code that does not exist. The
// conversation itself stays with the number it was written to.
func TestSMSCodeAnswersTheSamePhoneThroughEitherNumber(t *testing.T) {
	g := smstest.NewGateway("gw-user", "gw-pass")
	defer g.Close()
	tw := smstest.NewTwilio("ACtest", "authtoken0123456789abcdef")
	defer tw.Close()
	s := startService(t, map[string]string{"SMSGATE_URL": g.URL + "/message", "SMSGATE_USERNAME": "gw-user",
		"SMSGATE_PASSWORD": "gw-pass", "SMSGATE_SIGNING_KEY": gatewayKey,
		"TWILIO_ACCOUNT_SID": "ACtest", "TWILIO_AUTH_TOKEN": "authtoken0123456789abcdef",
		"TWILIO_FROM": "+15005550006", "TWILIO_API_URL": tw.URL, "JOIN_WINDOW": "200ms"})
	home := &smsPhone{t: t, s: s, g: g, from: victimLocal}
	helpBySMS(t, home.say)
	tips, _ := s.db.OpenTips(context.Background(), 10)
	if len(tips) != 1 {
		t.Fatalf("tips = %+v", tips)
	}
	ref := tips[0].Reference

	abroad := &twilioPhone{t: t, s: s, tw: tw}
	if got := abroad.say("TRA CUU " + ref); !strings.Contains(got, ref) || strings.Contains(got, "Khong tim thay") {
		t.Errorf("lookup through Twilio from the same phone = %q, want the report's status", got)
	}
	abroad.say("DU LIEU " + ref)
	if got := abroad.say("1"); !strings.Contains(got, "dang giu") {
		t.Errorf("what we hold, through Twilio from the same phone = %q", got)
	}
	reqs, err := s.db.DataRequests(context.Background(), tips[0].ID)
	if err != nil || len(reqs) != 1 || reqs[0].Kind != flows.DataAccess || reqs[0].Channel != "sms" {
		t.Errorf("data requests = %+v %v, want the access request recorded", reqs, err)
	}

	const otherE164 = "+84900000002"
	other := &twilioPhone{t: t, s: s, tw: tw, from: otherE164}
	before := len(tw.SentTo(otherE164))
	resp := other.post("TRA CUU " + ref)
	resp.Body.Close()
	got := tw.WaitSent(otherE164, before+1, 10*time.Second)
	if len(got) <= before || !strings.Contains(got[len(got)-1].Body, "Khong tim thay") {
		t.Errorf("lookup from another phone = %+v, want not found", got)
	}
}

// pgProxy stands between the service and the test's Postgres on loopback,
// so that a test can take Postgres away from this service alone (cut) and
// bring it back (restore) on the same address.
type pgProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

// newPGProxy proxies the database of dbURL, and returns dbURL through it.
func newPGProxy(t *testing.T, dbURL string) (*pgProxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{t: t, target: u.Host}
	p.restore()
	p.addr = p.ln.Addr().String()
	t.Cleanup(p.cut)
	u.Host = p.addr
	return p, u.String()
}

func (p *pgProxy) restore() {
	p.t.Helper()
	addr := cmp.Or(p.addr, "127.0.0.1:0")
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

// cut refuses new connections and ends the open ones, as a stopped
// Postgres does.
func (p *pgProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Twilio never sends a webhook again. With Postgres away, an SMS to the
// Twilio number is kept (sealed, in Redis): the first is answered, by Twilio
// itself, "we got it, the answer comes late, no need to send again", the
// next with empty TwiML, and none "busy, send again". Once Postgres is back
// they are handled in the order written, without the person writing again:
// the replies come, and the report has every word, once. Nothing of the
// person is in the log.
func TestSMSHeldWhilePostgresIsAway(t *testing.T) {
	tw := smstest.NewTwilio("ACtest", "authtoken0123456789abcdef")
	defer tw.Close()
	rdb, prefix := storagetest.Redis(t)
	dbURL := storagetest.DatabaseURL(t)
	pg, proxied := newPGProxy(t, dbURL)
	s := startServiceOn(t, proxied, prefix, map[string]string{"TWILIO_ACCOUNT_SID": "ACtest",
		"TWILIO_AUTH_TOKEN": "authtoken0123456789abcdef", "TWILIO_FROM": "+15005550006", "TWILIO_API_URL": tw.URL,
		"JOIN_WINDOW": "200ms"})
	p := &twilioPhone{t: t, s: s, tw: tw}
	if got := p.say("BAO TIN"); !strings.Contains(got, "1 ") {
		t.Fatalf("menu = %q", got)
	}

	outboxSettled(t, s.db)
	pg.cut()
	before := len(tw.SentTo(victimE164))
	const story = "co nguoi ru em toi sang Campuchia lam viec nhe luong cao"
	for i, text := range []string{"1", story} {
		resp := p.post(text)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		held := strings.Contains(string(body), "<Message>") && strings.Contains(string(body), "khong can gui lai")
		if resp.StatusCode != http.StatusOK || (i == 0) != held || (i > 0 && !strings.Contains(string(body), "<Response/>")) {
			t.Fatalf("SMS %d with Postgres away: %d %s; want the held notice first, then empty TwiML", i, resp.StatusCode, body)
		}
		time.Sleep(300 * time.Millisecond) // past JOIN_WINDOW: a new answer
	}
	time.Sleep(time.Second)
	if n := len(tw.SentTo(victimE164)); n != before {
		t.Fatalf("%d SMS sent with Postgres away", n-before)
	}
	if !strings.Contains(s.log.String(), "sms not handled now: held") {
		t.Errorf("the log does not say a message was held")
	}

	pg.restore()
	got := tw.WaitSent(victimE164, before+2, 40*time.Second)
	if len(got) < before+2 {
		t.Fatalf("after Postgres came back, %d answers, want 2\n%s", len(got)-before, s.log)
	}
	if !strings.Contains(got[before].Body, "Ke chuyen") || strings.Contains(got[before+1].Body, "Ke chuyen") {
		t.Errorf("answers out of turn: %q then %q", got[before].Body, got[before+1].Body)
	}
	for _, answer := range []string{"0", "4", "2", "1", "2"} {
		p.say(answer)
	}
	if got := p.say("1"); !strings.Contains(got, "TB-") {
		t.Fatalf("after Gui: %q", got)
	}
	tips, _ := s.db.OpenTips(context.Background(), 10)
	if len(tips) != 1 || tips[0].Category != "lured" || tips[0].Details["what"] != story {
		t.Fatalf("tips = %+v, want one, with the story as written once", tips)
	}
	if strings.Contains(s.log.String(), victimE164) || strings.Contains(s.log.String(), "Campuchia") {
		t.Errorf("the number or the words are in the log")
	}
	if q, _ := storage.NewHeld(rdb, prefix).Senders(context.Background()); len(q) != 0 {
		t.Errorf("queues left after every SMS was handled: %d", len(q))
	}
}

// Two replicas, Postgres away from both, a person writing to each in turn,
// and something unreadable at the head of their queue (a seal from an old
// key): once Postgres is back, the unreadable is set aside (kept, logged),
// and every SMS is handled once, in the order written, whichever replica
// took it.
func TestSMSHeldAcrossReplicasInOrder(t *testing.T) {
	tw := smstest.NewTwilio("ACtest", "authtoken0123456789abcdef")
	defer tw.Close()
	rdb, prefix := storagetest.Redis(t)
	pg, proxied := newPGProxy(t, storagetest.DatabaseURL(t))
	env := map[string]string{"TWILIO_ACCOUNT_SID": "ACtest", "TWILIO_AUTH_TOKEN": "authtoken0123456789abcdef",
		"TWILIO_FROM": "+15005550006", "TWILIO_API_URL": tw.URL, "JOIN_WINDOW": "200ms"}
	r1 := startServiceOn(t, proxied, prefix, env)
	r2 := startServiceOn(t, proxied, prefix, env)
	p1 := &twilioPhone{t: t, s: r1, tw: tw}
	if got := p1.say("BAO TIN"); !strings.Contains(got, "1 ") {
		t.Fatalf("menu = %q", got)
	}

	outboxSettled(t, r1.db)
	pg.cut()
	held := storage.NewHeld(rdb, prefix)
	keys, err := identity.ParseKeyring(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	sender := keys.Pseudonym(bot.ChannelSMS, "twilio:"+victimE164)
	if _, err := held.Push(context.Background(), sender, []byte("not a seal")); err != nil {
		t.Fatal(err)
	}
	const story = "nguoi ta giu giay to cua chi toi"
	before := len(tw.SentTo(victimE164))
	p2 := &twilioPhone{t: t, s: r2, tw: tw, n: 50} // its own MessageSids
	// Behind the junk, nothing is the first of a backlog: no notice, but
	// for the cry for help, which is always told the emergency numbers.
	for i, text := range []string{"1", story, "0", "cuu toi"} {
		p := p1
		if i%2 == 1 {
			p = p2
		}
		resp := p.post(text)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cry := flows.InDanger(text) // "cuu toi", and the story: documents taken
		if text == "cuu toi" && !cry {
			t.Fatal("cuu toi is not a cry for help")
		}
		told := strings.Contains(string(body), "khong can gui lai") && strings.Contains(string(body), "111")
		if resp.StatusCode != http.StatusOK || told != cry || (!cry && !strings.Contains(string(body), "<Response/>")) {
			t.Fatalf("SMS %q with Postgres away: %d %s; want it kept, and the notice only for the cry", text, resp.StatusCode, body)
		}
		time.Sleep(300 * time.Millisecond)
	}
	// Operators see the wait on /metrics while it lasts.
	waitFor(t, func() bool { return metric(t, r1, "tinbao_sms_held_senders") == 1 })
	pg.restore()
	// The cry, written without a reply to "0" in sight, may join the story
	// as a burst does (the person saw none of the replies): three answers
	// at least, in turn.
	got := tw.WaitSent(victimE164, before+3, 40*time.Second)
	if len(got) < before+3 {
		t.Fatalf("after Postgres came back, %d answers, want 3 or 4\n%s\n%s", len(got)-before, r1.log, r2.log)
	}
	// The story's prompt, then where (after the story), then children
	// (after "0" skipped where): each answer to its own SMS, in turn.
	for i, want := range []string{"Ke chuyen", "o dau", "tre em"} {
		if !strings.Contains(got[before+i].Body, want) {
			t.Errorf("answer %d = %q, want %q: out of turn", i, got[before+i].Body, want)
		}
	}
	aside, _ := held.SetAside(context.Background(), sender)
	if len(aside) != 1 || string(aside[0]) != "not a seal" {
		t.Errorf("set aside = %q, want the unreadable one", aside)
	}
	if !strings.Contains(r1.log.String()+r2.log.String(), "held sms unreadable: set aside") {
		t.Errorf("setting it aside is not logged")
	}
	if q, _ := held.Queued(context.Background(), sender); len(q) != 0 {
		t.Errorf("%d left in the queue", len(q))
	}
	waitFor(t, func() bool { return metric(t, r1, "tinbao_sms_held_senders") == 0 })
	if metric(t, r1, "tinbao_sms_set_aside_total")+metric(t, r2, "tinbao_sms_set_aside_total") != 1 {
		t.Errorf("/metrics does not count the one set aside")
	}
}

// metric reads one unlabelled figure from the service's /metrics (-1: none).
func metric(t *testing.T, s *service, name string) float64 {
	t.Helper()
	resp, err := http.Get(s.console + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// The gateway retries an event whose 2xx it did not get, even after later
// ones: a STOP retried after the person's START changes nothing. They still
// get their answers, also when the retry comes after so many messages that
// its ID is no longer among those remembered (or a day later, the record
// gone): the STOP is older than the START, by the phone's receivedAt.
func TestSMSRetriedStopAfterStartChangesNothing(t *testing.T) {
	p := gatewayPhone(t)
	stop := smstest.Received(p.from, "STOP")
	post := func(id string) {
		resp, err := smstest.EventWithID(p.s.url+"/webhooks/smsgate", gatewayKey, id, "sms:received", stop, time.Now())
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("STOP %s: %v %v", id, resp, err)
		}
		resp.Body.Close()
	}
	post("stop-event-1")
	p.unanswered(500*time.Millisecond, "GIUP")
	time.Sleep(10 * time.Millisecond) // receivedAt has milliseconds
	if got := p.say("START"); got == "" {
		t.Fatal("no answer to START")
	}
	post("stop-event-1") // the gateway's retry of the first STOP
	if got := p.say("GIUP"); !strings.Contains(got, "111") {
		t.Errorf("after a retried STOP: %q, want an answer with the emergency numbers", got)
	}
	for range storage.Dedupe {
		p.say("xin chao")
	}
	post("stop-event-1") // and again, now forgotten by its ID
	if got := p.say("GIUP"); !strings.Contains(got, "111") {
		t.Errorf("after a STOP retried once its ID was forgotten: %q, want an answer with the emergency numbers", got)
	}
	// A STOP written now is still a STOP.
	p.post("STOP", http.StatusOK)
	p.unanswered(500*time.Millisecond, "GIUP")
}

// outboxSettled waits until every message sent is marked so: one sent but
// not yet marked when Postgres goes away is sent again after (at least
// once), ahead of what follows it to the same person.
func outboxSettled(t *testing.T, db *storage.DB) {
	t.Helper()
	waitFor(t, func() bool {
		var pending int
		db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending')`).Scan(&pending)
		return pending == 0
	})
}

// A STOP written while Postgres is away is kept like any SMS, but never
// answered, not even with "your answer comes late": the person asked for
// silence, and the phone may be watched. Once Postgres is back it is
// applied: nothing more is sent.
func TestSMSHeldStopIsNeverAnswered(t *testing.T) {
	tw := smstest.NewTwilio("ACtest", "authtoken0123456789abcdef")
	defer tw.Close()
	_, prefix := storagetest.Redis(t)
	pg, proxied := newPGProxy(t, storagetest.DatabaseURL(t))
	s := startServiceOn(t, proxied, prefix, map[string]string{"TWILIO_ACCOUNT_SID": "ACtest",
		"TWILIO_AUTH_TOKEN": "authtoken0123456789abcdef", "TWILIO_FROM": "+15005550006", "TWILIO_API_URL": tw.URL,
		"JOIN_WINDOW": "200ms"})
	p := &twilioPhone{t: t, s: s, tw: tw}
	p.say("BAO TIN")
	outboxSettled(t, s.db)

	pg.cut()
	for _, text := range []string{"dung lai", "dung"} {
		resp := p.post(text)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<Response/>") {
			t.Fatalf("%q with Postgres away: %d %s; want it kept, and nothing said", text, resp.StatusCode, body)
		}
	}
	pg.restore()
	keys, _ := identity.ParseKeyring(testSecret)
	sender := keys.Pseudonym(bot.ChannelSMS, "twilio:"+victimE164)
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if out, _, err := s.db.OptedOut(context.Background(), sender); err == nil && out {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the STOP was not applied once Postgres was back\n%s", s.log)
		}
	}
	before := len(tw.SentTo(victimE164))
	p.post("1").Body.Close()
	time.Sleep(1500 * time.Millisecond)
	if got := tw.SentTo(victimE164); len(got) != before {
		t.Errorf("after the held STOP, %d more SMS: %q", len(got)-before, got[len(got)-1].Body)
	}
}
