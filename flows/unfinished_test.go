package flows_test

import (
	"testing"
	"time"

	"tinbao/flows"
	"tinbao/locales"
)

// What a silent person told is filed as they left it: their words, their
// answers, urgent and unfinished, with nothing to send them; and nothing at
// all once they sent, cancelled or wiped.
func TestUnfinished(t *testing.T) {
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := flows.New(cat, flows.Options{})
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	talk := func(s flows.Session, inputs ...flows.Input) flows.Session {
		for _, in := range inputs {
			now = now.Add(time.Minute)
			in.Channel, in.Now = "telegram", now
			s = e.Step(s, in).Session
		}
		return s
	}
	const cry = "cuu toi, ho nhot toi o Bavet"
	s := talk(flows.Session{}, flows.Input{Text: cry}, flows.Input{Choice: "no"})
	r := e.Unfinished(s, "telegram", "TB-AAAA-AAAA")
	if r == nil || r.Kind != flows.KindHelp || !r.Urgent || r.Ack != "" || r.FollowUp ||
		r.Details["unfinished"] != "yes" || r.Details["safe"] != "no" || r.Details["danger"] != "yes" ||
		r.Details["story"] != cry || len(r.Distress) != 1 || r.Distress[0].Text != cry {
		t.Errorf("unfinished = %+v", r)
	}
	if r := e.Unfinished(talk(s, flows.Input{Text: "/xoa"}), "telegram", "TB-AAAA-AAAA"); r != nil {
		t.Errorf("after a wipe: %+v, want nothing", r)
	}
	if r := e.Unfinished(talk(s, flows.Input{Text: "/huy"}), "telegram", "TB-AAAA-AAAA"); r != nil {
		t.Errorf("after a cancel: %+v, want nothing", r)
	}
	// Back to the menu is a way round, not a cancel: the cry stays.
	if r := e.Unfinished(talk(s, flows.Input{Text: "/start"}), "telegram", "TB-AAAA-AAAA"); r == nil || len(r.Distress) != 1 {
		t.Errorf("after /start: %+v, want the words still filed", r)
	}
	sent := talk(s, flows.Input{Choice: "yes"}, flows.Input{Choice: "send_now"}, flows.Input{Choice: "skip"}, flows.Input{Choice: "skip"})
	if r := e.Unfinished(sent, "telegram", "TB-AAAA-AAAA"); r != nil {
		t.Errorf("after sending: %+v, want nothing", r)
	}
	// A report whose teller says someone is in danger now, then stops.
	tip := talk(flows.Session{}, flows.Input{Text: "/baotin"}, flows.Input{Choice: "skip"},
		flows.Input{Text: "co nguoi ru di lam o Lao"}, flows.Input{Choice: "next"}, flows.Input{Choice: "skip"},
		flows.Input{Choice: "skip"}, flows.Input{Choice: "skip"}, flows.Input{Choice: "skip"}, flows.Input{Choice: "yes"})
	if r := e.Unfinished(tip, "telegram", "TB-AAAA-AAAA"); r == nil || r.Kind != flows.KindTip || r.Details["danger"] != "yes" ||
		r.Details["what"] != "co nguoi ru di lam o Lao" {
		t.Errorf("a report in danger = %+v", r)
	}
	if r := e.Unfinished(talk(flows.Session{}, flows.Input{Text: "xin chao"}), "telegram", "TB-AAAA-AAAA"); r != nil {
		t.Errorf("no alarm: %+v", r)
	}
}
