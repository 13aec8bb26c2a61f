package main

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"tinbao/bot/telegram/telegramtest"
	"tinbao/storage"
)

// A person who calls for help and then goes silent without sending (their
// phone taken, say) is not lost: after ALARM_SILENCE their request is filed
// as urgent and unfinished, with their words, and no message goes to their
// phone. One who wipes the chat (XOA, or the web chat's Thoát nhanh) is
// filed at once, marked wiped: hiding the chat does not take the cry back.
// One who sends is filed once, by their own Gửi; one still writing is not
// filed while they write.
func TestSilentCryForHelpIsFiled(t *testing.T) {
	tg := telegramtest.NewServer(t)
	const secret = "webhook-secret_123"
	s := startService(t, map[string]string{
		"TELEGRAM_BOT_TOKEN": telegramtest.Token, "TELEGRAM_API_URL": tg.URL, "TELEGRAM_WEBHOOK_SECRET": secret,
		"ALARM_SILENCE": "3s",
	})
	ctx := context.Background()
	const cry = "cuu toi, ho nhot toi o Bavet"

	silent := s.telegramChat(t, tg, secret, 700801)
	cried := time.Now()
	silent.say(cry)
	answered := len(tg.SentTo(700801))

	wiped := s.telegramChat(t, tg, secret, 700802)
	wiped.say("cuu em voi, bi giu o Myanmar")
	wiped.say("/xoa")
	web := newWebClient(t, s.url)
	web.send("cuu toi, ho dang den", "")
	if r, err := web.http.Post(s.url+"/chat/exit", "", nil); err != nil || r.StatusCode != http.StatusNoContent {
		t.Fatalf("quick exit: %v %v", r, err)
	}
	var hidden []storage.Tip
	for _, tip := range tipsOf(t, s) { // at once, not after the silence
		if tip.Details["wiped"] == "yes" && tip.Details["unfinished"] == "yes" && tip.Urgency == "urgent" {
			hidden = append(hidden, tip)
		}
	}
	if len(hidden) != 2 {
		t.Fatalf("filed at once after a wipe and a quick exit: %d, want 2: %+v", len(hidden), tipsOf(t, s))
	}

	sent := s.telegramChat(t, tg, secret, 700803)
	sent.say("toi bi nhot, cuu toi")
	sent.press("no")
	sent.press("yes")
	sent.press("send_now")
	sent.say("Bavet")
	sent.press("skip")
	// Sent; then, at once, a new cry, and silence: filed too (the first
	// watch, still open, swallowed it: review).
	sent.say("ho quay lai, cuu toi")

	// A report of a child (urgent already) whose teller then says someone
	// is in danger now, and stops.
	child := s.telegramChat(t, tg, secret, 700805)
	child.say("/baotin")
	child.press("skip")
	child.say("con gai toi 15 tuoi bi dua sang Trung Quoc")
	child.press("next")
	for _, c := range []string{"skip", "skip", "skip", "under16", "yes"} { // where, when, people, child, danger
		child.press(c)
	}

	writing := s.telegramChat(t, tg, secret, 700804)
	writing.say("cuu toi voi")
	for range 5 { // still answering, slowly, for longer than the silence
		time.Sleep(800 * time.Millisecond)
		writing.say("ho dang o ngoai cua")
	}
	for _, tip := range tipsOf(t, s) { // the silence was over long ago, theirs not
		if strings.HasPrefix(tip.Details["story"], "cuu toi voi") {
			t.Fatalf("filed while the person was still writing: %+v", tip)
		}
	}

	var tips []storage.Tip
	waitFor(t, func() bool { tips = tipsOf(t, s); return len(tips) == 7 })
	time.Sleep(2 * time.Second) // the wiped chats' alarms are long due too
	if tips = tipsOf(t, s); len(tips) != 7 {
		t.Fatalf("reports = %d, want 7: the one sent and its second cry, the silent one, the child's, the one who wrote then went silent, the two wiped ones (once each)", len(tips))
	}
	var filed []storage.Tip
	for _, tip := range tips {
		if tip.Details["unfinished"] == "yes" {
			filed = append(filed, tip)
		}
	}
	if len(filed) != 6 {
		t.Fatalf("filed unfinished = %d, want 6: %+v", len(filed), tips)
	}
	for _, tip := range filed {
		if tip.Details["what"] != "" { // the child's report: a tip, in danger by its answer
			if tip.Kind != "tip" || tip.Urgency != "urgent" || tip.Details["child"] != "under16" || tip.Details["danger"] != "yes" {
				t.Errorf("filed report = %+v", tip)
			}
		} else if tip.Kind != "help" || tip.Urgency != "urgent" || len(tip.Distress) == 0 || tip.FollowUp {
			t.Errorf("filed = %+v, want an urgent help request with the alarm words and no writing back", tip)
		}
		msgs, _ := s.db.OutboxForTip(ctx, tip.ID)
		if len(msgs) != 1 || msgs[0].Kind != "ack" || msgs[0].Status != "withheld" {
			t.Errorf("outbox of a filed request = %+v, want its acknowledgement withheld", msgs)
		}
	}
	found := false
	for _, tip := range filed {
		if len(tip.Distress) == 1 && tip.Distress[0].Text == cry && tip.Details["story"] == cry {
			found = true
			// Its age runs from the cry, not from the filing seconds later.
			if tip.CreatedAt.After(cried.Add(time.Second)) {
				t.Errorf("filed request received at %s, the cry was at %s: its age and deadline run from the filing", tip.CreatedAt, cried)
			}
		}
	}
	if !found {
		t.Errorf("the silent person's words are not in the filed request: %+v", filed)
	}
	time.Sleep(time.Second) // the dispatcher had its chance
	if n := len(tg.SentTo(700801)); n != answered {
		t.Errorf("%d messages went to the silent person's phone after the first answers", n-answered)
	}
	var outcomes string
	s.db.Pool().QueryRow(ctx, `SELECT string_agg(outcome, ',' ORDER BY outcome) FROM alarms`).Scan(&outcomes)
	if outcomes != "filed,filed,filed,filed,reported,reported,reported" {
		t.Errorf("alarm outcomes = %q, want filed,filed,filed,filed,reported,reported,reported (the wiped ones filed by their wipe)", outcomes)
	}
	// The silent person, filed, wipes the chat: the same words are not
	// filed a second time.
	silent.say("/xoa")
	if n := len(tipsOf(t, s)); n != 7 {
		t.Errorf("reports after a wipe that follows a silence filing = %d, want still 7", n)
	}
	if page := strings.ToLower(s.log.String()); strings.Contains(page, "bavet") {
		t.Errorf("the words reached the log")
	}
}

func tipsOf(t *testing.T, s *service) []storage.Tip {
	t.Helper()
	tips, err := s.db.OpenTips(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	return tips
}

// The officer's page of a request filed after silence, on a phone: it says
// what happened and not to write to the person, and nothing runs off to the
// right (the unit list, with its "emergency" notes, once made the page
// 503 px wide at 390). When the person comes back and sends, the two
// reports lead to each other.
func TestUnfinishedOnThePhone(t *testing.T) {
	ctx := browser(t)
	s := startService(t, map[string]string{"ALARM_SILENCE": "2s"})
	if _, err := s.db.AddOfficer(context.Background(), "duty", "officer", "", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	w := newWebClient(t, s.url)
	w.send("cuu em voi, ho nhot em o nha nghi gan ben xe Mong Cai, lay dien thoai roi", "")
	w.send("", "no")
	var ref string
	waitFor(t, func() bool {
		if tips := tipsOf(t, s); len(tips) == 1 {
			ref = tips[0].Reference
		}
		return ref != ""
	})
	err := act(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(s.console+"/queue"),
		chromedp.WaitVisible(chromedp.CSS(`#username`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), "duty"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "correct horse battery staple"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`table.queue`)))
	if err != nil {
		t.Fatalf("%v\n%s", err, s.log)
	}
	// Marked in the queue, apart from the requests people sent.
	waitJS(t, ctx, `document.querySelector('table.queue tbody tr').textContent.includes('chưa bấm Gửi')`)
	if err := act(ctx, chromedp.Navigate(s.console+"/tips/"+ref), chromedp.WaitVisible(chromedp.CSS(`section.distress`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.querySelector('.unfinished').textContent.includes('chưa bấm Gửi') &&
		document.querySelector('.unfinished').getBoundingClientRect().top < window.innerHeight &&
		document.body.textContent.includes('Không nhắn cho người này') &&
		document.body.textContent.includes('khẩn cấp, cần ghi lý do') &&
		document.documentElement.scrollWidth <= window.innerWidth`)

	// They come back and send their request themselves: two reports, and
	// each page leads the officer to the other.
	w.send("", "yes")      // in danger now
	w.send("", "send_now") // Gửi ngay
	w.send("", "skip")     // where
	w.send("", "skip")     // how to reach them: sent
	var second string
	waitFor(t, func() bool {
		for _, tip := range tipsOf(t, s) {
			if tip.Reference != ref {
				second = tip.Reference
			}
		}
		return second != ""
	})
	if err := act(ctx, chromedp.Navigate(s.console+"/tips/"+second), chromedp.WaitVisible(chromedp.CSS(`.same-sender`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.querySelector('.same-sender a[href="/tips/`+ref+`"]') !== null &&
		document.querySelector('.same-sender').textContent.includes('chưa bấm Gửi')`)
	if err := act(ctx, chromedp.Navigate(s.console+"/tips/"+ref), chromedp.WaitVisible(chromedp.CSS(`.same-sender`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.querySelector('.same-sender a[href="/tips/`+second+`"]') !== null &&
		document.documentElement.scrollWidth <= window.innerWidth`)
	if dir := os.Getenv("SCREENSHOTS"); dir != "" {
		if b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(dir+"/console-unfinished-phone.png", b, 0o644)
		}
	}
}

// A person who cries for help and then cancels (huỷ) takes the cry back:
// the queue's orange box goes at once, not when the watch falls due (it
// showed officers, for up to the silence, a cry that no longer was), and
// nothing is filed. One who keeps answering stays in the box.
func TestCancelledCryLeavesTheQueue(t *testing.T) {
	tg := telegramtest.NewServer(t)
	const secret = "webhook-secret_123"
	s := startService(t, map[string]string{
		"TELEGRAM_BOT_TOKEN": telegramtest.Token, "TELEGRAM_API_URL": tg.URL, "TELEGRAM_WEBHOOK_SECRET": secret,
		"ALARM_SILENCE": "10m",
	})
	ctx := context.Background()
	open := func() int {
		t.Helper()
		alarms, err := s.db.OpenAlarms(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(alarms)
	}
	cancelled := s.telegramChat(t, tg, secret, 700901)
	cancelled.say("cuu toi, ho giu toi o Bavet")
	staying := s.telegramChat(t, tg, secret, 700902)
	staying.say("cuu em voi")
	if n := open(); n != 2 {
		t.Fatalf("open alarms after two cries = %d, want 2", n)
	}
	cancelled.say("huy")
	if n := open(); n != 1 {
		t.Fatalf("open alarms after one cancelled = %d, want 1 (the one still there)", n)
	}
	staying.say("ho dang o ngoai")
	if n := open(); n != 1 {
		t.Errorf("open alarms after the other wrote again = %d, want 1", n)
	}
	var outcome string
	if err := s.db.Pool().QueryRow(ctx, `SELECT string_agg(coalesce(outcome, 'open'), ',' ORDER BY id) FROM alarms`).Scan(&outcome); err != nil {
		t.Fatal(err)
	}
	if outcome != "dropped,open" {
		t.Errorf("alarms = %q, want dropped,open", outcome)
	}
	if tips := tipsOf(t, s); len(tips) != 0 {
		t.Errorf("filed after a cancel: %+v", tips)
	}
}
