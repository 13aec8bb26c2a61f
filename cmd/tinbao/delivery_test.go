package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"tinbao/bot/telegram/telegramtest"
	"tinbao/flows"
	"tinbao/locales"
	"tinbao/storage/storagetest"
)

const officersChat = -1001234567890

// A call for help pages the officers' group at once, while the person is
// still answering (the channel, and where to look: nothing they wrote, nothing
// about who they are), and the intake's queue page says someone is calling
// for help until they send. Their urgent report then alerts the group: its
// code, kind, urgency and a link, and again nothing the reporter wrote.
func TestUrgentReportAlertsOfficers(t *testing.T) {
	tg := telegramtest.NewServer(t)
	const secret = "webhook-secret_123"
	s := startService(t, map[string]string{
		"TELEGRAM_BOT_TOKEN": telegramtest.Token, "TELEGRAM_API_URL": tg.URL, "TELEGRAM_WEBHOOK_SECRET": secret,
		"TELEGRAM_OFFICER_CHAT_ID": fmt.Sprint(officersChat), "CONSOLE_URL": "https://console.example",
	})
	ctx := context.Background()
	if _, err := s.db.AddOfficer(ctx, "intake", "officer", "", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	o := newOfficer(t, s.console)
	o.login("intake", "correct horse battery staple")
	private := []string{"Bavet", "nhốt", "700101", firstName, username}

	c := s.telegramChat(t, tg, secret, 700101)
	c.say("cứu tôi, họ nhốt tôi ở Bavet")
	alerts := tg.WaitSent(officersChat, 1, 10*time.Second)
	if len(alerts) != 1 || !strings.Contains(alerts[0].Text, "kêu cứu qua Telegram") ||
		!strings.Contains(alerts[0].Text, "https://console.example/queue") {
		t.Fatalf("officers' group, before anything was sent: %+v, want one alert that someone is calling for help\n%s", alerts, s.log)
	}
	if _, page := o.get("/queue"); !strings.Contains(page, `id="alarms"`) || strings.Contains(page, `id="alarms" class="alarms" role="status" hidden`) ||
		!strings.Contains(page, "Có người đang kêu cứu") || !strings.Contains(page, "Telegram") {
		t.Errorf("the queue does not say someone is calling for help:\n%s", page)
	}
	c.press("yes") // safe enough to write
	c.press("yes") // in danger
	c.press("send_now")
	c.press("skip") // where
	c.press("skip") // how to reach them
	alerts = tg.WaitSent(officersChat, 2, 10*time.Second)
	if len(alerts) != 2 {
		t.Fatalf("officers' group got %d messages, want 2: the call for help once (not once per message), then the report\n%s", len(alerts), s.log)
	}
	tips, _ := s.db.OpenTips(ctx, 10)
	a := alerts[1].Text
	if len(tips) != 1 || !strings.Contains(a, tips[0].Reference) || !strings.Contains(a, "KHẨN") ||
		!strings.Contains(a, "https://console.example/tips/"+tips[0].Reference) {
		t.Errorf("alert = %q", a)
	}
	for _, a := range alerts {
		for _, p := range private {
			if strings.Contains(a.Text, p) {
				t.Errorf("alert carries %q: %q", p, a.Text)
			}
		}
	}
	// Sent: the banner goes at once (the alarm itself is settled later).
	waitFor(t, func() bool {
		_, page := o.get("/queue")
		return strings.Contains(page, `id="alarms" class="alarms" role="status" hidden`)
	})
}

// An officer writes to the reporter through the outbox; the reporter's next
// free message lands in the report's thread; a status notice follows. The
// officer's side never holds the chat ID.
func TestOfficerFollowUpAndReplyRoundTrip(t *testing.T) {
	s, tg, secret := startTelegram(t)
	const reporter = 700102
	c := s.telegramChat(t, tg, secret, reporter)
	ref := reportTo(t, c, "Có người bị giữ hộ chiếu ở xưởng may", true)
	tip, err := s.db.TipByReference(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	before := len(tg.SentTo(reporter))
	if _, err := s.db.QueueFollowUp(context.Background(), tip.ID, "officer1", "Bạn có biết xưởng ở phường nào không?"); err != nil {
		t.Fatal(err)
	}
	got := tg.WaitSent(reporter, before+1, 10*time.Second)
	if len(got) != before+1 || got[before].Text != "Bạn có biết xưởng ở phường nào không?" {
		t.Fatalf("follow-up not delivered: %+v", got)
	}
	waitFor(t, func() bool {
		th, _ := s.db.TipMessages(context.Background(), tip.ID)
		return len(th) == 1 && th[0].Status == "sent"
	})

	c.say("Gần chợ Cái Bè, họ làm ca đêm")
	if last := c.last().Text; !strings.Contains(last, "người phụ trách") || !strings.Contains(last, ref) {
		t.Errorf("reply acknowledged with %q", last)
	}
	thread, err := s.db.TipMessages(context.Background(), tip.ID)
	if err != nil || len(thread) != 2 || thread[1].Direction != "in" || thread[1].Body != "Gần chợ Cái Bè, họ làm ca đêm" {
		t.Fatalf("thread = %+v, %v", thread, err)
	}
	var leaked bool
	s.db.Pool().QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM tip_messages m WHERE m::text LIKE '%'||$1||'%')`,
		fmt.Sprint(reporter)).Scan(&leaked)
	if leaked {
		t.Error("the thread holds the chat ID")
	}

	// The officer hands the report on: the reporter is told in plain words.
	cat, _ := locales.Load()
	notice, _ := flows.New(cat, flows.Options{}).StatusNotice("vi", flows.Reference(ref), "forwarded")
	before = len(tg.SentTo(reporter))
	units, _ := s.db.Units(context.Background())
	if _, err := s.db.Refer(context.Background(), tip.ID, units[0].ID, "", []string{}, "officer1", ""); err != nil {
		t.Fatal(err)
	}
	if queued, err := s.db.ChangeTipStatus(context.Background(), tip.ID, "forwarded", "officer1", notice); err != nil || !queued {
		t.Fatalf("status change: queued=%t %v", queued, err)
	}
	got = tg.WaitSent(reporter, before+1, 10*time.Second)
	if len(got) != before+1 || got[before].Text != notice {
		t.Errorf("status notice: %+v", got)
	}
}

// The process dies right after a report is committed, before its
// acknowledgement could be sent; after a restart the reporter still gets it.
func TestAcknowledgementSurvivesRestart(t *testing.T) {
	tg := telegramtest.NewServer(t)
	const secret = "webhook-secret_123"
	_, prefix := storagetest.Redis(t)
	dbURL := storagetest.DatabaseURL(t)
	env := map[string]string{"TELEGRAM_BOT_TOKEN": telegramtest.Token, "TELEGRAM_API_URL": tg.URL, "TELEGRAM_WEBHOOK_SECRET": secret}
	// Telegram refuses to send anything at first.
	tg.FailNext("sendMessage", 1000, telegramtest.Error{Code: 502, Description: "Bad Gateway"})
	first := startServiceOn(t, dbURL, prefix, env)
	c := first.telegramChat(t, tg, secret, 700103)
	c.say("/baotin")
	c.press("skip")
	c.say("Có người bị lừa sang Lào")
	c.press("next")
	for range 8 {
		c.press("skip")
	}
	c.press("send")
	first.stop() // as if killed: the acknowledgement is only in the outbox
	tips, _ := first.db.OpenTips(context.Background(), 10)
	if len(tips) != 1 {
		t.Fatalf("tips = %+v", tips)
	}
	msgs, _ := first.db.OutboxForTip(context.Background(), tips[0].ID)
	if len(msgs) != 1 || msgs[0].Status == "sent" {
		t.Fatalf("before restart: %+v", msgs)
	}

	tg.ClearFailures("sendMessage") // Telegram is back
	second := startServiceOn(t, dbURL, prefix, env)
	_ = second
	waitFor(t, func() bool {
		for _, m := range tg.SentTo(700103) {
			if strings.Contains(m.Text, tips[0].Reference) {
				return true
			}
		}
		return false
	})
}
