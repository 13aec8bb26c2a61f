package flows

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"tinbao/locales"
)

// FuzzStep: whatever arrives, in whatever state, Step answers and never
// panics, and a finished report always carries the reference it was given.
func FuzzStep(f *testing.F) {
	cat, err := locales.Load()
	if err != nil {
		f.Fatal(err)
	}
	e := New(cat, Options{})
	for _, seed := range []struct{ flow, step, text, choice string }{
		{"", "", "/start", ""},
		{"report", "what", "Có người bị lừa", ""},
		{"report", "where", "", "skip"},
		{"report", "summary", "gửi", ""},
		{"report", "nope", "x", "send"},
		{"nope", "what", "\xff\xfe", ""},
		{"report", "summary", "", "m:report"},
		{"report", "what", "a\x00b\xff", ""},
	} {
		f.Add(seed.flow, seed.step, seed.text, seed.choice)
	}
	f.Fuzz(func(t *testing.T, flow, step, text, choice string) {
		ref := NewReference([]byte{1, 2, 3, 4, 5, 6, 7})
		r := e.Step(Session{Flow: flow, Step: step}, Input{Text: text, Choice: choice, Now: time.Unix(0, 0), Reference: ref})
		if len(r.Replies) == 0 && r.Report == nil && r.Lookup == "" && !r.Wipe {
			t.Fatalf("no answer to %q/%q in %s/%s", text, choice, flow, step)
		}
		if r.Report != nil && r.Report.Reference != ref {
			t.Fatalf("report reference %q, want %q", r.Report.Reference, ref)
		}
		for k, v := range r.Session.Answers {
			if strings.ContainsRune(v, 0) || !utf8.ValidString(v) {
				t.Fatalf("answer %s keeps %q: Postgres would refuse it", k, v)
			}
		}
	})
}
