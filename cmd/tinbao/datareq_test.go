package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"tinbao/bot/sms"
	"tinbao/flows"
	"tinbao/storage"
)

// dataRequest asks, over the webhook, for kind of request about ref and
// returns the answer (erasure: through its confirmation).
func (c *tgChat) dataRequest(ref, choice string) string {
	c.t.Helper()
	c.say("/dulieu")
	c.say(strings.ToLower(ref))
	if !strings.Contains(c.last().ReplyMarkup, `"callback_data":"d:erase"`) {
		c.t.Fatalf("no data request choices after the code: %+v", c.last())
	}
	c.press(choice)
	if choice == "d:erase" {
		if !strings.Contains(c.last().Text, "không lấy lại được") {
			c.t.Fatalf("erasure without saying what it means: %q", c.last().Text)
		}
		c.press("d:erase!")
	}
	return c.last().Text
}

// waitText waits until the bot sent the chat a message containing want.
func (c *tgChat) waitText(want string) bool {
	c.t.Helper()
	return c.waitTextFor(want, 10*time.Second)
}

// waitTextFor is waitText with its own patience.
func (c *tgChat) waitTextFor(want string, d time.Duration) bool {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, m := range c.tg.SentTo(c.chatID) {
			if strings.Contains(m.Text, want) {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A reporter with only the code asks to see what we hold (a summary of
// classes, never the words), to stop messages (at once: officers can no
// longer write), and to erase; someone else with the code, and a code
// nobody was given, get word for word the same answers and record nothing.
// A supervisor erases from the console's queue of requests and the report's
// details are gone; the reporter is told. Another erasure is refused with a
// reason, and that reporter is told in plain words; withdrawn sharing
// blocks a referral to support services at once.
func TestTelegramDataRequestsEndToEnd(t *testing.T) {
	s, tg, secret := startTelegram(t)
	ctx := context.Background()
	const story = "Chủ nhà hàng ở Bavet giữ hộ chiếu của em gái tôi"
	owner := s.telegramChat(t, tg, secret, 700010)
	ref := reportTo(t, owner, story, true)
	tip, err := s.db.TipByReference(ctx, ref)
	if err != nil || !tip.FollowUp {
		t.Fatalf("tip = %+v, %v", tip, err)
	}

	// See: classes, no contents.
	seen := owner.dataRequest(ref, "d:see")
	if !strings.Contains(seen, "Lời bạn kể") || !strings.Contains(seen, "Được nhắn lại cho bạn: có") ||
		strings.Contains(seen, "Bavet") || strings.Contains(seen, "hộ chiếu") {
		t.Errorf("access answer = %q, want classes and never the story", seen)
	}

	// Someone else with the code, and an unknown code: the same words, nothing recorded.
	stranger := s.telegramChat(t, tg, secret, 700011)
	unknown := string(flows.NewReference([]byte{9, 9, 9, 9, 9, 9, 9}))
	strangerStop := stranger.dataRequest(ref, "d:stopmsg")
	unknownErase := stranger.dataRequest(unknown, "d:erase")
	if got := stranger.dataRequest(ref, "d:see"); !strings.Contains(got, "không có gì để cho bạn xem") {
		t.Errorf("someone else's access = %q", got)
	}
	if tip, _ := s.db.TipByReference(ctx, ref); !tip.FollowUp {
		t.Fatal("someone else with the code stopped the messages")
	}

	// Stop messages: at once, and the same words the stranger got.
	if got := owner.dataRequest(ref, "d:stopmsg"); got != strangerStop {
		t.Errorf("stop messages: owner told %q, someone else %q", got, strangerStop)
	}
	if tip, _ := s.db.TipByReference(ctx, ref); tip.FollowUp {
		t.Error("follow-up still allowed after the withdrawal")
	}
	// Erase: waits for a supervisor; the unknown code got the same words.
	erasing := owner.dataRequest(ref, "d:erase")
	if erasing != strings.ReplaceAll(unknownErase, unknown, ref) || !strings.Contains(erasing, "2 ngày làm việc") {
		t.Errorf("erasure: owner told %q, unknown code %q", erasing, unknownErase)
	}
	reqs, err := s.db.DataRequests(ctx, 0)
	if err != nil || len(reqs) != 3 {
		t.Fatalf("requests = %+v, %v; want the owner's three only", reqs, err)
	}
	var erasure storage.DataRequest
	for _, r := range reqs {
		if r.Reference != ref {
			t.Errorf("a request recorded for %s", r.Reference)
		}
		if r.Kind == flows.DataErasure {
			erasure = r
		}
	}
	if erasure.Status != "pending" || !erasure.DueAt.After(erasure.CreatedAt.Add(47*time.Hour)) {
		t.Fatalf("erasure = %+v", erasure)
	}

	for _, a := range []struct{ user, role string }{{"duty", "officer"}, {"chief", "supervisor"}} {
		if _, err := s.db.AddOfficer(ctx, a.user, a.role, "", "correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
	}
	// An officer sees the queue of requests but may not decide, nor write
	// to the reporter any more.
	o := newOfficer(t, s.console)
	o.login("duty", "correct horse battery staple")
	if code, page := o.get("/requests"); code != http.StatusOK || !strings.Contains(page, ref) || strings.Contains(page, `value="refused"`) {
		t.Errorf("officer's requests page (%d):\n%s", code, page)
	}
	decide := fmt.Sprintf("/requests/%d/decide", erasure.ID)
	if r, _ := o.post(decide, url.Values{"decision": {"done"}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("an officer's decision: %d, want 403", r.StatusCode)
	}
	o.get("/tips/" + ref)
	if r, _ := o.post("/tips/"+ref+"/reply", url.Values{"body": {"Bạn có an toàn không?"}}); r.StatusCode != http.StatusConflict {
		t.Errorf("a message after the withdrawal: %d, want 409", r.StatusCode)
	}

	// The supervisor erases: the details are gone, the reporter is told.
	sup := newOfficer(t, s.console)
	sup.login("chief", "correct horse battery staple")
	code, page := sup.get("/requests")
	if code != http.StatusOK || !strings.Contains(page, ref) || !strings.Contains(page, "Đang chờ") || !strings.Contains(page, `value="refused"`) {
		t.Fatalf("supervisor's requests page (%d):\n%s", code, page)
	}
	if _, page := sup.get("/tips/" + ref); !strings.Contains(page, "Yêu cầu về dữ liệu") || !strings.Contains(page, "Xoá tin") {
		t.Errorf("the report's page does not show its data requests")
	}
	if r, _ := sup.post(decide, url.Values{"decision": {"done"}, "csrf": {"forged"}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("a decision without the CSRF token: %d, want 403", r.StatusCode)
	}
	// One stray tap erases nothing: the form asks to tick that an erasure
	// cannot be undone.
	if r, _ := sup.post(decide, url.Values{"decision": {"done"}, "back": {"tip"}}); r.StatusCode != http.StatusBadRequest {
		t.Errorf("an erasure without the tick: %d", r.StatusCode)
	}
	if tip, _ := s.db.TipByReference(ctx, ref); tip.Erased {
		t.Fatal("erased without the tick")
	}
	if r, _ := sup.post(decide, url.Values{"decision": {"done"}, "back": {"tip"}, "sure": {"yes"}}); r.StatusCode != http.StatusSeeOther ||
		r.Header.Get("Location") != "/tips/"+ref {
		t.Fatalf("erase: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if tip, _ := s.db.TipByReference(ctx, ref); !tip.Erased || len(tip.Details) != 0 {
		t.Errorf("tip after the erasure = %+v", tip)
	}
	if _, page := sup.get("/tips/" + ref); strings.Contains(page, "Bavet") || strings.Contains(page, "hộ chiếu") {
		t.Error("the report's page still shows the story after the erasure")
	}
	if r, _ := sup.post(decide, url.Values{"decision": {"refused"}, "reason": {"law_requires_keeping"}}); r.StatusCode != http.StatusConflict {
		t.Errorf("deciding twice: %d, want 409", r.StatusCode)
	}
	if !owner.waitText("đã được xoá theo yêu cầu của bạn") {
		t.Errorf("the reporter was not told of the erasure: %+v", tg.SentTo(700010))
	}
	if got := owner.dataRequest(ref, "d:see"); !strings.Contains(got, "tin đã được xoá") {
		t.Errorf("access after the erasure = %q", got)
	}

	// Another reporter: sharing withdrawn blocks support services at once;
	// an erasure refused because the law requires keeping a crime report.
	other := s.telegramChat(t, tg, secret, 700012)
	kept := reportTo(t, other, "Có người bị giữ ở Campuchia", true)
	other.dataRequest(kept, "d:stopshare")
	sup.get("/tips/" + kept)
	if r, page := sup.post("/tips/"+kept+"/refer", url.Values{"unit": {unitIDByName(t, s, "Sở Y tế (bảo trợ xã hội)")}}); r.StatusCode != http.StatusForbidden ||
		!strings.Contains(page, "rút đồng ý") {
		t.Errorf("a referral to support services after the withdrawal: %d", r.StatusCode)
	}
	if r, _ := sup.post("/tips/"+kept+"/refer", url.Values{"unit": {unitIDByName(t, s, "Công an tỉnh")}, "share": {"what"}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("a referral to the police: %d", r.StatusCode)
	}
	other.dataRequest(kept, "d:erase")
	keptTip, _ := s.db.TipByReference(ctx, kept)
	reqs, _ = s.db.DataRequests(ctx, keptTip.ID)
	var refuse int64
	for _, r := range reqs {
		if r.Kind == flows.DataErasure {
			refuse = r.ID
		}
	}
	sup.get("/requests")
	if r, _ := sup.post(fmt.Sprintf("/requests/%d/decide", refuse), url.Values{"decision": {"refused"}, "reason": {"because"}}); r.StatusCode != http.StatusBadRequest {
		t.Errorf("a reason not on the list: %d, want 400", r.StatusCode)
	}
	if r, _ := sup.post(fmt.Sprintf("/requests/%d/decide", refuse), url.Values{"decision": {"refused"}, "reason": {"law_requires_keeping"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("refuse: %d", r.StatusCode)
	}
	if !other.waitText("theo luật, công an phải giữ tin báo về tội phạm") {
		t.Errorf("the reporter was not told why: %+v", tg.SentTo(700012))
	}
	if tip, _ := s.db.TipByReference(ctx, kept); tip.Erased || tip.Details["what"] == "" {
		t.Errorf("a refused erasure touched the report: %+v", tip)
	}
	_, page = sup.get("/audit?action=datareq")
	for _, want := range []string{"datareq.received", "datareq.decided", "chief"} {
		if !strings.Contains(page, want) {
			t.Errorf("audit lacks %q", want)
		}
	}
}

// By SMS through the gateway: DU LIEU and the code, a number for the
// choice; each answer one GSM-7 SMS, queued and tracked like every SMS.
func TestSMSDataRequestThroughTheGateway(t *testing.T) {
	p := gatewayPhone(t)
	s, g := p.s, p.g
	reportBySMS(t, p.say)
	tips, _ := s.db.OpenTips(context.Background(), 10)
	if len(tips) != 1 {
		t.Fatalf("tips = %+v", tips)
	}
	ref := tips[0].Reference
	if got := p.say("du lieu " + strings.ToLower(ref)); !strings.Contains(got, "1 Xem dang giu gi") {
		t.Fatalf("choices = %q", got)
	}
	got := p.say("1")
	if !strings.Contains(got, "loi ke") || strings.Contains(got, "facebook") {
		t.Errorf("summary by SMS = %q", got)
	}
	p.say("DULIEU " + ref)
	p.say("4")
	if got := p.say("1"); !strings.Contains(got, "2 ngay lam viec") {
		t.Errorf("erasure acknowledged = %q", got)
	}
	for _, m := range g.SentTo(victimE164) {
		if enc, n := sms.Count(m.Body); enc != sms.GSM7 || n != 1 {
			t.Errorf("SMS %q: %s, %d segments", m.Body, enc, n)
		}
	}
	reqs, _ := s.db.DataRequests(context.Background(), tips[0].ID)
	if len(reqs) != 2 || reqs[0].Kind != flows.DataErasure || reqs[0].Status != "pending" || reqs[0].Channel != "sms" {
		t.Errorf("requests = %+v", reqs)
	}
}
