package console

import (
	"strings"
	"testing"
	"time"

	"tinbao/flows"
	"tinbao/locales"
	"tinbao/storage"
)

// A report's history reads as words, not stored codes: "Mới → Đang xem",
// the unit's name, the answers shared by their names. A key it does not
// know still shows.
func TestEventWords(t *testing.T) {
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	c := &Console{cat: cat, engine: flows.New(cat, flows.Options{})}
	for _, tc := range []struct {
		action  string
		details map[string]string
		want    string
	}{
		{"tip.status_changed", map[string]string{"from": "new", "to": "in_review"}, "Mới → Đang xem"},
		{"tip.referred", map[string]string{"unit": "5", "unit_name": "Công an tỉnh Đồng Tháp", "shared": "distress,what,danger",
			"emergency": "true"},
			"đơn vị: Công an tỉnh Đồng Tháp · chia sẻ: Lời kêu cứu (nguyên văn), Chuyện xảy ra, Nguy hiểm ngay lúc này · khẩn cấp, chưa có đồng ý của người gửi"},
		{"tip.referred", map[string]string{"unit": "2", "unit_name": "Tổng đài 111", "shared": ""},
			"đơn vị: Tổng đài 111 · chia sẻ: không chia sẻ câu trả lời nào"},
		{"tip.viewed", map[string]string{"from": "10.0.0.4"}, "từ máy 10.0.0.4"},
		{"tip.created", map[string]string{"channel": "sms"}, "qua SMS"},
		{"tip.erased", map[string]string{"why": "data_request"}, "lý do: người gửi yêu cầu xoá"},
		{"sender.flagged", map[string]string{"kind": "spam", "days": "7", "until": "2026-12-09T10:00:00Z"},
			"Tin rác · 7 ngày · đến 09/12/2026 17:00"},
		{"tip.viewed", map[string]string{"new_key": "x"}, "new_key=x"},
	} {
		got := strings.Join(c.eventWords(tc.action, tc.details), " · ")
		if got != tc.want {
			t.Errorf("%s %v:\n got %q\nwant %q", tc.action, tc.details, got, tc.want)
		}
	}
}

// An officer reloading a report is audited each time; the history shows
// the run as one line, and keeps apart what differs.
func TestTimelineFoldsRuns(t *testing.T) {
	at := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	view := func(who string, min int) storage.Event {
		return storage.Event{At: at.Add(time.Duration(min) * time.Minute), Actor: who, Action: "tip.viewed",
			Details: map[string]string{"from": "10.0.0.4"}}
	}
	claim := storage.Event{At: at.Add(3 * time.Minute), Actor: "duty", Action: "tip.claimed"}
	reload := view("duty", 3)
	reload.At = reload.At.Add(time.Second) // the page again, after the claim
	got := timeline([]storage.Event{view("duty", 0), view("duty", 1), view("duty", 2), claim, reload, view("duty", 4), view("lan", 5)})
	if len(got) != 4 || got[0].Times != 3 || !got[0].Last.Equal(at.Add(2*time.Minute)) || got[1].Action != "tip.claimed" ||
		got[2].Times != 1 || !got[2].At.Equal(at.Add(4*time.Minute)) || got[3].Actor != "lan" {
		t.Errorf("timeline = %+v", got)
	}
}
