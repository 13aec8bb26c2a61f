package flows_test

import (
	"strings"
	"testing"
	"time"

	"tinbao/flows"
	"tinbao/locales"
)

// A file over the limit is refused when it is sent, saying the limit, and
// not kept; a small one beside it is kept; the summary counts photos and
// files apart.
func TestMediaOverTheLimitIsRefusedAtOnce(t *testing.T) {
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := flows.New(cat, flows.Options{})
	now := time.Date(2025, 11, 27, 9, 0, 0, 0, time.UTC)
	s := flows.Session{}
	step := func(in flows.Input) flows.Result {
		in.Channel, in.Now = "telegram", now
		now = now.Add(time.Minute)
		r := e.Step(s, in)
		s = r.Session
		return r
	}
	step(flows.Input{Text: "/baotin"})
	step(flows.Input{Choice: "skip"})
	step(flows.Input{Text: "Có người rủ em tôi đi làm ở xa"})
	step(flows.Input{Choice: "next"})
	for range 5 {
		step(flows.Input{Choice: "skip"})
	}
	if s.Step != "media" {
		t.Fatalf("at %q, want the media step", s.Step)
	}
	r := step(flows.Input{Media: []flows.Media{{Kind: "video", FileID: "big", Size: flows.MaxMediaBytes + 1}}})
	if len(r.Replies) != 1 || !strings.Contains(r.Replies[0].Text, "10 MB") || len(s.Media) != 0 {
		t.Fatalf("a file over the limit: %+v, kept %d", r.Replies, len(s.Media))
	}
	step(flows.Input{Media: []flows.Media{{Kind: "photo", FileID: "p", Size: 1000}, {Kind: "document", FileID: "d", Size: 2000}}})
	step(flows.Input{Choice: "done"})
	step(flows.Input{Choice: "skip"})
	r = step(flows.Input{Choice: "skip"})
	if len(s.Media) != 2 || !strings.Contains(r.Replies[0].Text, "1 ảnh, 1 tệp") {
		t.Errorf("summary = %q with %d kept, want 1 ảnh, 1 tệp", r.Replies[0].Text, len(s.Media))
	}
}
