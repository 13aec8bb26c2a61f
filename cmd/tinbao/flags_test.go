package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"tinbao/flows"
)

// An officer flags a report's sender from its page, with a reason and a
// number of days: the report stays in the queue, labelled with the kind,
// reason and expiry, below an unflagged one of the same urgency; the page
// never names the sender; clearing puts it back; both are audited.
func TestConsoleFlagsASender(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	if _, err := s.db.AddOfficer(ctx, "duty", "officer", "", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	older, newer := string(flows.NewReference([]byte{20, 20, 20, 20, 1, 2, 3})), string(flows.NewReference([]byte{21, 21, 21, 21, 4, 5, 6}))
	commitReport(t, s, older, false, false, "")
	commitReport(t, s, newer, false, false, "")

	o := newOfficer(t, s.console)
	if r := o.login("duty", "correct horse battery staple"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", r.StatusCode)
	}
	if _, page := o.get("/tips/" + older); !strings.Contains(page, "Đánh dấu người gửi") {
		t.Fatalf("the report page offers no flag:\n%s", page)
	}
	const reason = "gửi hơn 200 tin quảng cáo trong một giờ"
	if r, _ := o.post("/tips/"+older+"/flag", url.Values{"kind": {"spam"}, "days": {"400"}, "reason": {reason}}); r.StatusCode != http.StatusBadRequest {
		t.Errorf("400 days: %d, want 400", r.StatusCode)
	}
	if r, body := o.post("/tips/"+older+"/flag", url.Values{"kind": {"spam"}, "days": {"7"}, "reason": {reason}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("flag: %d %s", r.StatusCode, body)
	}
	_, page := o.get("/tips/" + older)
	if !strings.Contains(page, "Tin rác") || !strings.Contains(page, reason) || !strings.Contains(page, "đến ") {
		t.Errorf("the report page does not show the flag (kind, reason, expiry)")
	}
	if strings.Contains(page, "p-"+older) {
		t.Error("the report page names the sender's pseudonym")
	}
	_, queue := o.get("/queue")
	iOlder, iNewer := strings.Index(queue, "/tips/"+older), strings.Index(queue, "/tips/"+newer)
	if iOlder < 0 || iNewer < 0 || iOlder < iNewer {
		t.Errorf("queue: the flagged sender's older report at %d, the other at %d; want it still listed, below", iOlder, iNewer)
	}
	if row := queue[iOlder:]; !strings.Contains(row[:min(len(row), 600)], "Tin rác") || !strings.Contains(row[:min(len(row), 600)], reason) {
		t.Errorf("the queue row carries no label")
	}
	if r, _ := o.post("/tips/"+older+"/unflag", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("unflag: %d", r.StatusCode)
	}
	if r, _ := o.post("/tips/"+older+"/unflag", nil); r.StatusCode != http.StatusConflict {
		t.Errorf("unflag twice: %d, want 409", r.StatusCode)
	}
	_, queue = o.get("/queue")
	if strings.Index(queue, "/tips/"+older) > strings.Index(queue, "/tips/"+newer) || strings.Contains(queue, reason) {
		t.Errorf("cleared: the report is not back in its place")
	}
	var actions []string
	rows, _ := s.db.Pool().Query(ctx, `SELECT actor || ' ' || action FROM audit_log WHERE action LIKE 'sender.%' ORDER BY id`)
	for rows.Next() {
		var a string
		rows.Scan(&a)
		actions = append(actions, a)
	}
	if strings.Join(actions, ",") != "duty sender.flagged,duty sender.unflagged" {
		t.Errorf("audit = %q", actions)
	}
}
