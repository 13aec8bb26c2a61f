package console

import (
	"testing"
	"time"

	"tinbao/locales"
)

func TestDeadlines(t *testing.T) {
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	c := &Console{cat: cat}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		age             time.Duration
		urgency, status string
		state           string
		due             time.Duration // after creation
	}{
		{10 * time.Minute, "urgent", "new", "ok", time.Hour},
		{50 * time.Minute, "urgent", "in_review", "soon", time.Hour},
		{2 * time.Hour, "urgent", "verifying", "overdue", time.Hour},
		{2 * time.Hour, "normal", "new", "ok", 24 * time.Hour},
		{25 * time.Hour, "normal", "in_review", "overdue", 24 * time.Hour},
		{25 * time.Hour, "normal", "forwarded", "ok", 20 * 24 * time.Hour}, // handed on: now the decision clock
		{21 * 24 * time.Hour, "urgent", "forwarded", "overdue", 20 * 24 * time.Hour},
		{30 * 24 * time.Hour, "urgent", "resolved", "", 0}, // decided: no clock
	} {
		created := now.Add(-tc.age)
		d := c.deadlineOf(clock{Created: created, Urgency: tc.urgency, Status: tc.status}, now)
		if d.State != tc.state || (tc.state != "" && !d.Due.Equal(created.Add(tc.due))) {
			t.Errorf("%s %s %s old: %+v, want %q due %s after", tc.urgency, tc.status, tc.age, d, tc.state, tc.due)
		}
	}
}

// A complex case has 2 months to be decided, and one extension adds 2 more.
func TestDecisionClockComplexAndExtended(t *testing.T) {
	cat, _ := locales.Load()
	c := &Console{cat: cat}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	created := now.Add(-30 * 24 * time.Hour)
	if d := c.deadlineOf(clock{Created: created, Status: "forwarded"}, now); d.State != "overdue" {
		t.Errorf("20 days: %+v", d)
	}
	if d := c.deadlineOf(clock{Created: created, Status: "forwarded", Complex: true}, now); d.State != "ok" || !d.Due.Equal(created.Add(60*24*time.Hour)) {
		t.Errorf("complex: %+v", d)
	}
	if d := c.deadlineOf(clock{Created: created, Status: "forwarded", Complex: true, Extended: true}, now); !d.Due.Equal(created.Add(120 * 24 * time.Hour)) {
		t.Errorf("extended: %+v", d)
	}
}

// A median time reads in words, not as Go writes a duration ("1m28s").
func TestSpanInWords(t *testing.T) {
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	c := &Console{cat: cat}
	for d, want := range map[time.Duration]string{
		28 * time.Second:                      "28 giây",
		88 * time.Second:                      "1 phút 28 giây",
		3 * time.Minute:                       "3 phút",
		2*time.Hour + 5*time.Minute + 20e9:    "2 giờ 5 phút",
		5 * time.Hour:                         "5 giờ",
		59*time.Minute + 59*time.Second:       "59 phút 59 giây",
		59*time.Minute + 59*time.Second + 6e8: "1 giờ",
	} {
		if got := c.span(d); got != want {
			t.Errorf("span(%v) = %q, want %q", d, got, want)
		}
	}
}
