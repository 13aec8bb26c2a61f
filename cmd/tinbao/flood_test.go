package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// floodLimit mirrors the bot's cap: messages a minute answered as usual.
const floodLimit = 30

// flooder writes to the webhook as fast as the service answers, from its
// own goroutine: it records every status instead of failing the test.
type flooder struct {
	url, secret string
	chatID      int64
	next        int
	mu          sync.Mutex
	codes       map[int]int
}

func (f *flooder) send(body []byte) {
	req, _ := http.NewRequest(http.MethodPost, f.url+"/webhooks/telegram", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", f.secret)
	code := 0
	if resp, err := http.DefaultClient.Do(req); err == nil {
		code = resp.StatusCode
		resp.Body.Close()
	}
	f.mu.Lock()
	f.codes[code]++
	f.mu.Unlock()
}

func (f *flooder) say(text string) {
	f.next++
	f.send(textUpdateFrom(f.next, f.chatID, text))
}

func (f *flooder) press(choice string) {
	f.next++
	f.send(callbackUpdateFrom(f.next, f.chatID, choice))
}

// A flood from one sender gets only 200s and a bounded number of answers,
// ending in one calm notice; a second sender's whole report, written in the
// middle of it, commits and is acknowledged; the flooder's own report,
// written over the cap without a word back, still commits and is
// acknowledged through the outbox.
func TestTelegramFloodIsBoundedAndLosesNoReport(t *testing.T) {
	s, tg, secret := startTelegram(t)
	const floodChat, otherChat = 800001, 800002
	f := &flooder{url: s.url, secret: secret, chatID: floodChat, next: 900000, codes: map[int]int{}}
	for i := range floodLimit + 5 {
		f.say(fmt.Sprint("alo alo ", i))
	}
	before := tg.SentTo(floodChat)
	if n := len(before); n == 0 || !strings.Contains(before[n-1].Text, "nhắn rất nhanh") {
		t.Fatalf("the flooder's last answer = %+v, want the flood notice", before[n-1:])
	}
	time.Sleep(1100 * time.Millisecond) // the channel's second of answers passes

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // more of the flood, then a report written without a word back
		defer wg.Done()
		for i := range 100 {
			f.say(fmt.Sprint("spam ", i))
		}
		f.say("/baotin")
		f.press("skip")
		f.say("Có người rủ tôi sang Campuchia, giờ họ không cho về")
		f.press("next")
		for range 8 {
			f.press("skip")
		}
		f.press("send")
	}()
	other := s.telegramChat(t, tg, secret, otherChat)
	ref := reportTo(t, other, "Hàng xóm rủ con gái tôi đi làm việc nhẹ lương cao")
	wg.Wait()

	if f.codes[http.StatusOK] != floodLimit+5+100+13 || len(f.codes) != 1 {
		t.Errorf("the flood's answers = %v, want only 200s", f.codes)
	}
	tips, err := s.db.OpenTips(context.Background(), 10)
	if err != nil || len(tips) != 2 {
		t.Fatalf("tips = %+v, %v; want both reports", tips, err)
	}
	var flooders string
	for _, tip := range tips {
		if tip.Reference != ref {
			flooders = tip.Reference
			if !strings.Contains(tip.Details["what"], "không cho về") || tip.Urgency != "urgent" || len(tip.Distress) != 1 {
				t.Errorf("the flooder's report = %+v: its words and its alarm must be kept", tip)
			}
		}
	}
	// The flooder's acknowledgement comes through the outbox; after the
	// notice, that and the one turn that first raised the alarm (the
	// numbers, "marked urgent", the story's prompt) are all.
	sent := tg.WaitSent(floodChat, len(before)+1, 10*time.Second)
	waitFor(t, func() bool {
		sent = tg.SentTo(floodChat)
		return strings.Contains(sent[len(sent)-1].Text, flooders)
	})
	after := sent[len(before):]
	if len(after) > 4 || !strings.Contains(after[0].Text, "111") {
		t.Errorf("after the notice the flooder got %d messages: %+v; want the emergency numbers and the acknowledgement", len(after), after)
	}
	if len(before) > 2*(floodLimit+1) {
		t.Errorf("the flooder got %d messages before the notice, want at most %d", len(before), 2*(floodLimit+1))
	}
	logs := s.log.String()
	if !strings.Contains(logs, "flood cap") {
		t.Errorf("no log line says a sender went over the flood cap")
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "flood") && strings.Contains(line, fmt.Sprint(floodChat)) {
			t.Errorf("a log line names the chat: %s", line)
		}
	}
}
