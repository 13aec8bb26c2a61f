package flows_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"tinbao/flows"
	"tinbao/locales"
)

// Outside the staffed hours every acknowledgement says nobody reads now and
// when they will, on SMS too (in its one segment): a person who texts at
// night must not wait for an answer that cannot come before morning. The
// danger line beside it gives 111 / 113.
func TestAcknowledgementSaysWhenItIsRead(t *testing.T) {
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := flows.New(cat, flows.Options{StaffedFrom: 7 * 60, StaffedTo: 22 * 60, ResponseHours: 24})
	ack := func(channel string, at time.Time) string {
		s := flows.Session{}
		answers := []string{"GIUP", "1", "2", "1", "Tay Ninh", "2 4", "1", "sau 9 gio toi", "1 3", "1"} // help_sms.txt
		if channel != "sms" {
			answers = []string{"/giup"}
		}
		var res flows.Result
		for _, text := range answers {
			res = e.Step(s, flows.Input{Channel: channel, Text: text, Now: at, Reference: "TB-7K3M-Q9XJ"})
			s = res.Session
		}
		// Elsewhere, the buttons as a hurried person presses them: skip
		// what can be skipped, write where words are wanted, send.
		for i := 0; channel != "sms" && res.Report == nil && i < 30; i++ {
			in := flows.Input{Channel: channel, Now: at, Reference: "TB-7K3M-Q9XJ", Text: "Tay Ninh, sau 9 gio toi"}
			last := res.Replies[len(res.Replies)-1]
			for _, want := range []string{"send", "next", "skip", "done"} {
				if in.Choice == "" && slices.ContainsFunc(last.Choices, func(c flows.Choice) bool { return c.ID == want }) {
					in.Choice, in.Text = want, ""
				}
			}
			res = e.Step(s, in)
			s = res.Session
		}
		if res.Report == nil {
			t.Fatalf("%s: no report at the end: %+v", channel, res.Replies)
		}
		return res.Report.Ack
	}
	night := time.Date(2026, 12, 2, 2, 30, 0, 0, time.FixedZone("ICT", 7*3600))
	day := night.Add(8 * time.Hour)
	if got := ack("sms", night); !strings.Contains(got, "Se doc tu 7:00.") || !strings.Contains(got, "111") {
		t.Errorf("SMS at night: %q, want when it will be read and 111", got)
	}
	if got := ack("sms", day); !strings.Contains(got, "Se doc trong 24 gio.") {
		t.Errorf("SMS by day: %q, want within how many hours it is read", got)
	}
	if got := ack("telegram", night); !strings.Contains(got, "ngoài giờ trực (7:00–22:00)") {
		t.Errorf("Telegram at night: %q, want the staffed hours", got)
	}
	if got := ack("telegram", day); strings.Contains(got, "ngoài giờ trực") || !strings.Contains(got, "24 giờ") {
		t.Errorf("Telegram by day: %q", got)
	}
}

// The privacy notes say how long an unsent conversation is kept as it is
// configured (RETAIN_CONVERSATIONS), not a fixed "1 day".
func TestPrivacySaysTheRetentionInForce(t *testing.T) {
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := flows.New(cat, flows.Options{Forget: 12 * time.Hour})
	first := e.Step(flows.Session{}, flows.Input{Channel: "telegram", Text: "xin chao", Now: time.Now()})
	said := ""
	for _, r := range first.Replies {
		said += r.Text + "\n"
	}
	if !strings.Contains(said, "tự xoá sau 12 giờ") {
		t.Errorf("first reply: %q, want the 12 hours in force", said)
	}
	if got := e.PrivacyNotice("vi"); !strings.Contains(got, "tự xoá sau 12 giờ") || strings.Contains(got, "{{") {
		t.Errorf("privacy notice: %q", got)
	}
	if got := flows.New(cat, flows.Options{}).PrivacyNotice("en"); !strings.Contains(got, "deleted after 1 day") {
		t.Errorf("default: %q", got)
	}
}
