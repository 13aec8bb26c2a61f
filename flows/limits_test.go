package flows_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"tinbao/flows"
	"tinbao/locales"
)

// telegramMax is the longest text Telegram sends in one message; a longer
// reply is refused (400) and, riding in a webhook's response, lost without
// a word.
const telegramMax = 4096

// A story told in several long messages, as the story question allows (up
// to MaxStoryRunes), still gets a summary that fits in one Telegram message:
// the person is never left at a summary that cannot be sent.
func TestLongStorySummaryFitsOneMessage(t *testing.T) {
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := flows.New(cat, flows.Options{PrivacyURL: "https://tinbao.example/privacy"})
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var s flows.Session
	step := func(text, choice string) flows.Result {
		now = now.Add(2 * time.Minute) // never a burst
		r := e.Step(s, flows.Input{Channel: "telegram", Text: text, Choice: choice, Now: now})
		s = r.Session
		for _, rep := range r.Replies {
			if n := utf8.RuneCountInString(rep.Text); n > telegramMax {
				t.Errorf("a reply of %d characters, over Telegram's %d: %.80q…", n, telegramMax, rep.Text)
			}
		}
		return r
	}
	part := string([]rune(strings.Repeat("Có người rủ em tôi sang Campuchia làm việc nhẹ lương cao, giữ hộ chiếu. ", 27))[:1900])
	step("/baotin", "")
	step("", "skip")
	for range 4 {
		step(part, "")
	}
	r := step("", "next")
	for range 12 {
		if len(r.Replies) > 0 && strings.Contains(r.Replies[len(r.Replies)-1].Text, "xem lại") {
			break
		}
		r = step("", "skip")
	}
	last := r.Replies[len(r.Replies)-1].Text
	if !strings.Contains(last, "xem lại") {
		t.Fatalf("did not reach the summary: %.200q", last)
	}
	if !strings.Contains(last, "…") {
		t.Errorf("the long story is not shortened in the summary")
	}
	if len(s.Answers["what"]) < 4*len(part) {
		t.Errorf("the story kept is %d bytes, want all four messages", len(s.Answers["what"]))
	}
}
