package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"tinbao/flows"
	"tinbao/storage"
)

// officerClient is an officer's browser: a cookie jar, no redirects
// followed, and the page's CSRF token.
type officerClient struct {
	t    *testing.T
	base string
	http *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func newOfficer(t *testing.T, base string) *officerClient {
	jar, _ := cookiejar.New(nil)
	return &officerClient{t: t, base: base, http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get fetches a page and remembers its CSRF token.
func (o *officerClient) get(path string) (int, string) {
	o.t.Helper()
	resp, err := o.http.Get(o.base + path)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(b); m != nil {
		o.csrf = html.UnescapeString(string(m[1]))
	}
	return resp.StatusCode, string(b)
}

// post submits a form with the CSRF token (unless the form sets its own).
func (o *officerClient) post(path string, form url.Values) (*http.Response, string) {
	o.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, set := form["csrf"]; !set {
		form.Set("csrf", o.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, o.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := o.http.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (o *officerClient) login(user, password string) *http.Response {
	o.t.Helper()
	o.get("/login")
	resp, _ := o.post("/login", url.Values{"username": {user}, "password": {password}})
	return resp
}

// commitReport puts a report in the queue as the bot would.
func commitReport(t *testing.T, s *service, ref string, urgent, followUp bool, distress string) storage.CommittedTip {
	t.Helper()
	r := flows.Report{Kind: flows.KindTip, Reference: flows.Reference(ref), Urgent: urgent, Lang: "vi", FollowUp: followUp,
		Details: map[string]string{"what": "Có người rủ em tôi sang Campuchia", "where": "Bavet"}, Ack: "Cảm ơn bạn. " + ref}
	if distress != "" {
		r.Distress = []flows.Distress{{At: time.Now().UTC(), Text: distress}}
	}
	c, err := s.db.CommitTip(context.Background(), storage.NewTip{Report: r, Channel: "web", SenderPseudonym: "p-" + ref,
		SourceMessageID: ref, Handle: "1"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// An officer signs in and works a report: the queue lists urgent first,
// "take the next one" gives the most pressing, the report page shows the
// cry for help first, a colleague cannot take it (409), the status moves
// along the allowed path, the reporter gets a message only where allowed;
// every view and change is in the append-only audit log. Sign-in is
// throttled, state changes need the CSRF token, and the pages carry strict
// security headers.
func TestConsoleWorksAReport(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	for _, a := range []struct{ user, role string }{{"duty", "officer"}, {"colleague", "officer"}, {"chief", "supervisor"}} {
		if _, err := s.db.AddOfficer(ctx, a.user, a.role, "", "correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
	}
	rA, rB := string(flows.NewReference([]byte{10, 10, 10, 10, 1, 2, 3})), string(flows.NewReference([]byte{11, 11, 11, 11, 4, 5, 6}))
	commitReport(t, s, rA, false, false, "")
	urgent := commitReport(t, s, rB, true, true, "cứu tôi, họ không cho về")

	// An alert's link to the urgent report, opened signed out, leads there
	// after signing in.
	alert := newOfficer(t, s.console)
	if code, _ := alert.get("/tips/" + rB); code != http.StatusSeeOther {
		t.Errorf("a report without signing in: %d, want a redirect to /login", code)
	}
	if r := alert.login("duty", "correct horse battery staple"); r.Header.Get("Location") != "/tips/"+rB {
		t.Errorf("after signing in from an alert's link: %d to %q, want /tips/%s", r.StatusCode, r.Header.Get("Location"), rB)
	}
	o := newOfficer(t, s.console)
	if code, _ := o.get("/queue"); code != http.StatusSeeOther {
		t.Errorf("queue without signing in: %d, want a redirect to /login", code)
	}
	code, page := o.get("/login")
	if code != http.StatusOK || !strings.Contains(page, `name="username"`) || !strings.Contains(page, `name="password"`) || o.csrf == "" {
		t.Fatalf("login page: %d %s", code, page)
	}
	resp, _ := o.http.Get(s.console + "/login")
	for h, want := range map[string]string{"Content-Security-Policy": "frame-ancestors 'none'", "Referrer-Policy": "no-referrer",
		"Cache-Control": "no-store"} {
		if !strings.Contains(resp.Header.Get(h), want) {
			t.Errorf("%s = %q, want %q", h, resp.Header.Get(h), want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q: scripts only from the console itself, nothing inline", csp)
	}
	if r, _ := o.post("/login", url.Values{"username": {"duty"}, "password": {"wrong"}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", r.StatusCode)
	}
	if r, _ := o.post("/login", url.Values{"username": {"duty"}, "password": {"correct horse battery staple"}, "csrf": {"forged"}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("login without the CSRF token: %d, want 403", r.StatusCode)
	}
	if r := o.login("duty", "correct horse battery staple"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/queue" {
		t.Fatalf("login: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	code, page = o.get("/queue")
	if code != http.StatusOK || strings.Index(page, rB) < 0 || strings.Index(page, rB) > strings.Index(page, rA) {
		t.Fatalf("queue (%d) does not list the urgent report first:\n%s", code, page)
	}
	// Take the next one: the urgent report.
	r, _ := o.post("/queue/next", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/tips/"+rB {
		t.Fatalf("next: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	code, page = o.get("/tips/" + strings.ToLower(rB))
	if code != http.StatusOK || !strings.Contains(page, "cứu tôi, họ không cho về") ||
		strings.Index(page, "cứu tôi") > strings.Index(page, "Bavet") {
		t.Fatalf("report page (%d) does not show the cry for help first:\n%s", code, page)
	}
	// A colleague cannot take it.
	c := newOfficer(t, s.console)
	c.login("colleague", "correct horse battery staple")
	c.get("/tips/" + rB)
	if r, page := c.post("/tips/"+rB+"/claim", nil); r.StatusCode != http.StatusConflict || !strings.Contains(page, "đồng nghiệp") {
		t.Errorf("colleague's claim: %d, want 409 and a clear message", r.StatusCode)
	}
	// Statuses along the allowed path only.
	if r, _ := o.post("/tips/"+rB+"/status", url.Values{"status": {"new"}}); r.StatusCode != http.StatusBadRequest {
		t.Errorf("in review → new: %d, want 400", r.StatusCode)
	}
	if r, _ := o.post("/tips/"+rB+"/refer", url.Values{"unit": {unitIDByName(t, s, "Công an tỉnh")}, "share": {"what"}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("refer: %d", r.StatusCode)
	}
	if r, _ := o.post("/tips/"+rB+"/status", url.Values{"status": {"forwarded"}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("in review → forwarded: %d", r.StatusCode)
	}
	// A message to the reporter, who allowed it; none to the other.
	if r, _ := o.post("/tips/"+rB+"/reply", url.Values{"body": {"Bạn có an toàn không?"}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("reply: %d", r.StatusCode)
	}
	o.get("/tips/" + rA)
	if r, _ := o.post("/tips/"+rA+"/reply", url.Values{"body": {"Xin chào"}}); r.StatusCode != http.StatusConflict {
		t.Errorf("reply to a reporter who did not allow it: %d, want 409", r.StatusCode)
	}
	msgs, _ := s.db.OutboxForTip(ctx, urgent.TipID)
	kinds := map[string]int{}
	for _, m := range msgs {
		kinds[m.Kind]++
	}
	if kinds["ack"] != 1 || kinds["status"] != 1 || kinds["followup"] != 1 {
		t.Errorf("outbox of the report = %v, want its acknowledgement, a status notice and the follow-up", kinds)
	}
	// Without the CSRF token, or from another site: refused.
	if r, _ := o.post("/tips/"+rB+"/status", url.Values{"status": {"resolved"}, "csrf": {"x"}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("status change without the token: %d, want 403", r.StatusCode)
	}
	// Every view and change is audited.
	events, _ := s.db.TipEvents(ctx, urgent.TipID)
	seen := map[string]bool{}
	for _, e := range events {
		seen[e.Actor+" "+e.Action] = true
	}
	for _, want := range []string{"duty tip.claimed", "duty tip.viewed", "colleague tip.viewed", "duty tip.status_changed", "duty tip.followup_sent"} {
		if !seen[want] {
			t.Errorf("audit lacks %q: %v", want, seen)
		}
	}
	// The report's history and deliveries read in the officer's words, not
	// as stored codes.
	_, page = o.get("/tips/" + rB)
	for _, want := range []string{"Nhận xử lý", "Đổi trạng thái", "Nhắn cho người báo tin", "Xác nhận đã nhận tin", "Hệ thống · Tin đến", "duty · cán bộ"} {
		if !strings.Contains(page, want) {
			t.Errorf("the report page lacks %q", want)
		}
	}
	for _, code := range []string{"tip.claimed", "tip.viewed", "tip.status_changed", "· ack ·", "<strong>queued</strong>", "<strong>sent</strong>", "<strong>delivered</strong>", "(sending)", "(sent)"} {
		if strings.Contains(page, code) {
			t.Errorf("the report page shows the stored code %q to the officer", code)
		}
	}
	// Right passwords do not use up the limit: an officer signs in on a
	// phone and a laptop, again and again in a shift.
	for i := range 7 {
		if r := newOfficer(t, s.console).login("colleague", "correct horse battery staple"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("right password, sign-in %d: %d, want 303", i+1, r.StatusCode)
		}
	}
	// Wrong ones do: sign-in is throttled per account.
	x := newOfficer(t, s.console)
	var last int
	for range 6 {
		last = x.login("chief", "guess").StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("sixth wrong password: %d, want 429", last)
	}
	// Log out everywhere ends the other sessions too.
	o2 := newOfficer(t, s.console)
	o2.login("duty", "correct horse battery staple")
	o.get("/queue")
	o.post("/logout/everywhere", nil)
	if code, _ := o2.get("/queue"); code != http.StatusSeeOther {
		t.Errorf("another session after logging out everywhere: %d, want a redirect to /login", code)
	}
	// An administrator disables the colleague's account: signed out at once.
	var out, errb strings.Builder
	env := func(k string) string { return s.env[k] }
	if err := run(ctx, []string{"officer", "disable", "colleague"}, env, strings.NewReader(""), &out, &errb); err != nil {
		t.Fatalf("officer disable: %v %s", err, errb.String())
	}
	if code, _ := c.get("/queue"); code != http.StatusSeeOther {
		t.Errorf("a disabled officer's session: %d, want a redirect to /login", code)
	}
	// A new password, generated and printed once, ends the old sessions.
	out.Reset()
	if err := run(ctx, []string{"officer", "reset-password", "duty"}, env, strings.NewReader(""), &out, &errb); err != nil ||
		!strings.Contains(out.String(), "password: ") {
		t.Fatalf("officer reset-password: %v %q", err, out.String())
	}
	fresh := strings.TrimSpace(out.String()[strings.Index(out.String(), "password: ")+len("password: "):])
	if r := newOfficer(t, s.console).login("duty", fresh); r.StatusCode != http.StatusSeeOther {
		t.Errorf("sign in with the new password: %d", r.StatusCode)
	}
}

// A person who said they are in danger now and chose Gửi ngay was never
// asked for consent: the request may still go to the police, the Border
// Guard or 111 (the law's exception for protecting life), with the
// officer's reason, audited, and only what they tick shared (a way to reach
// the person is not ticked for them). Then it can be marked forwarded: it
// used to go to no unit and was sure to miss its one-hour deadline.
func TestConsoleEmergencyReferral(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	if _, err := s.db.AddOfficer(ctx, "duty", "officer", "", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	ref := string(flows.NewReference([]byte{12, 12, 12, 13, 7, 8, 9}))
	help := flows.Report{Kind: flows.KindHelp, Reference: flows.Reference(ref), Lang: "vi", Ack: "ack", Urgent: true,
		Details: map[string]string{"safe": "no", "danger": "yes", "go_on": "send_now", "now_where": "Bavet",
			"now_contact": "Zalo chị Lan sau 9 giờ tối", "story": "cứu tôi, họ nhốt tôi"}}
	c, err := s.db.CommitTip(ctx, storage.NewTip{Report: help, Channel: "web", SenderPseudonym: "e", SourceMessageID: "e1", Handle: "1"})
	if err != nil {
		t.Fatal(err)
	}
	o := newOfficer(t, s.console)
	o.login("duty", "correct horse battery staple")
	o.get("/tips/" + ref)
	if r, _ := o.post("/tips/"+ref+"/claim", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("claim: %d", r.StatusCode)
	}
	_, page := o.get("/tips/" + ref)
	for _, want := range []string{`action="/tips/` + ref + `/refer"`, "khẩn cấp, cần ghi lý do", `name="emergency_reason"`,
		`value="now_where" checked>`, `value="now_contact">`} {
		if !strings.Contains(page, want) {
			t.Errorf("the report page lacks %q", want)
		}
	}
	// The web page cannot write back, but the person said how to reach
	// them: the page says to use that, not that they refused messages.
	if !strings.Contains(page, "Lời người gửi nhắn") || strings.Contains(page, "Lời bạn nhắn") {
		t.Errorf("the officer reads the story under the reporter's own wording")
	}
	if !strings.Contains(page, "Họ đã ghi cách liên lạc an toàn") || strings.Contains(page, "không cho phép nhắn lại") {
		t.Errorf("the page does not point to the way to reach the person")
	}
	police, health := unitIDByName(t, s, "Công an tỉnh"), unitIDByName(t, s, "Sở Y tế (bảo trợ xã hội)")
	if r, _ := o.post("/tips/"+ref+"/refer", url.Values{"unit": {health}, "share": {"now_where"}, "emergency_reason": {"x"}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("to a support service without consent: %d, want 403", r.StatusCode)
	}
	if r, _ := o.post("/tips/"+ref+"/refer", url.Values{"unit": {police}, "share": {"now_where"}, "emergency_reason": {"  "},
		"note": {"Gọi trước khi đến"}}); r.StatusCode != http.StatusSeeOther ||
		r.Header.Get("Location") != "/tips/"+ref {
		t.Errorf("without a reason: %d to %q, want back to the report", r.StatusCode, r.Header.Get("Location"))
	}
	_, page = o.get("/tips/" + ref)
	if !strings.Contains(page, `class="flash refused" role="alert">Chuyển khi chưa có đồng ý thì phải ghi lý do`) {
		t.Errorf("the report page does not say a reason is needed")
	}
	// The form comes back as the officer left it: the unit, the note, and
	// only the one answer they ticked (not every answer, as by default).
	if !strings.Contains(page, `<option value="`+police+`" selected>`) || !strings.Contains(page, ">Gọi trước khi đến</textarea>") ||
		!strings.Contains(page, `value="now_where" checked`) || strings.Contains(page, `value="distress" checked`) {
		t.Errorf("the refused form is not as the officer left it:\n%s", page)
	}
	if _, again := o.get("/tips/" + ref); strings.Contains(again, ">Gọi trước khi đến</textarea>") {
		t.Error("the refused form's note stays after it was shown once")
	}
	if refs, _ := s.db.Referrals(ctx, c.TipID); len(refs) != 0 {
		t.Fatalf("refused referrals were made: %+v", refs)
	}
	const why = "Người nhờ giúp nói đang bị nhốt ở Bavet, cần đến ngay"
	if r, _ := o.post("/tips/"+ref+"/refer", url.Values{"unit": {police}, "share": {"now_where"}, "emergency_reason": {why}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("emergency referral: %d", r.StatusCode)
	}
	refs, _ := s.db.Referrals(ctx, c.TipID)
	if len(refs) != 1 || len(refs[0].Shared) != 1 || refs[0].Shared[0] != "now_where" {
		t.Errorf("referrals = %+v, want one to the police sharing the place only", refs)
	}
	// The audit says it was an emergency; the reason, free text, is a note
	// on the report, which erasing the report clears (the audit is kept).
	var audited string
	s.db.Pool().QueryRow(ctx, `SELECT details->>'emergency' FROM audit_log WHERE tip_id = $1 AND action = 'tip.referred'`, c.TipID).Scan(&audited)
	if audited != "true" {
		t.Errorf("audited emergency = %q, want true", audited)
	}
	if _, page := o.get("/tips/" + ref); !strings.Contains(page, why) {
		t.Errorf("the reason is not among the report's notes")
	}
	if r, _ := o.post("/tips/"+ref+"/status", url.Values{"status": {"forwarded"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("forwarded: %d", r.StatusCode)
	}
	if tip, _ := s.db.TipByReference(ctx, ref); tip.Status != "forwarded" {
		t.Errorf("status = %q, want forwarded", tip.Status)
	}
	// In danger, asked on the long path, and the consent question skipped:
	// asked, so heard; no exception.
	asked := string(flows.NewReference([]byte{12, 12, 12, 14, 7, 8, 9}))
	skipped := flows.Report{Kind: flows.KindHelp, Reference: flows.Reference(asked), Lang: "vi", Ack: "ack", Urgent: true,
		Details: map[string]string{"danger": "yes", "go_on": "continue", "where": "Bavet"}}
	if _, err := s.db.CommitTip(ctx, storage.NewTip{Report: skipped, Channel: "telegram", SenderPseudonym: "e2", SourceMessageID: "e2", Handle: "2"}); err != nil {
		t.Fatal(err)
	}
	o.get("/tips/" + asked)
	if r, _ := o.post("/tips/"+asked+"/refer", url.Values{"unit": {police}, "share": {"where"}, "emergency_reason": {why}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("the exception for a person asked who skipped: %d, want 403", r.StatusCode)
	}
}

// "Forwarded" means handed to a unit: an urgent report referred to no unit
// cannot be marked forwarded (so its hand-on deadline is not met by a click
// and it stays in the queue and on the late list); the officer is told to
// refer it first and nothing changes. Once referred, it can be.
func TestConsoleForwardNeedsReferral(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	if _, err := s.db.AddOfficer(ctx, "duty", "officer", "", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	ref := string(flows.NewReference([]byte{12, 12, 12, 12, 7, 8, 9}))
	c := commitReport(t, s, ref, true, true, "cứu tôi")
	o := newOfficer(t, s.console)
	o.login("duty", "correct horse battery staple")
	o.get("/tips/" + ref)
	if r, _ := o.post("/tips/"+ref+"/claim", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("claim: %d", r.StatusCode)
	}
	r, _ := o.post("/tips/"+ref+"/status", url.Values{"status": {"forwarded"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/tips/"+ref {
		t.Fatalf("forwarded without a referral: %d %s, want back to the report", r.StatusCode, r.Header.Get("Location"))
	}
	if _, page := o.get("/tips/" + ref); !strings.Contains(page, `class="flash refused" role="alert">`) || !strings.Contains(page, "Hãy chuyển tuyến trước") {
		t.Errorf("the page does not tell the officer, as a refusal, to refer it first:\n%s", page)
	}
	tip, _ := s.db.TipByReference(ctx, ref)
	if tip.Status != "in_review" {
		t.Errorf("status after the refused move = %q, want in_review", tip.Status)
	}
	msgs, _ := s.db.OutboxForTip(ctx, c.TipID)
	for _, m := range msgs {
		if m.Kind == "status" {
			t.Errorf("the reporter was told it was forwarded: %+v", m)
		}
	}
	events, _ := s.db.TipEvents(ctx, c.TipID)
	for _, e := range events {
		if e.Action == "tip.status_changed" && e.Details["to"] == "forwarded" {
			t.Errorf("a refused move was audited as a status change: %+v", e)
		}
	}
	// Still in the queue of what waits.
	if _, q := o.get("/queue"); !strings.Contains(q, ref) {
		t.Error("the report left the queue")
	}
	// Referred, it can be forwarded.
	if r, _ := o.post("/tips/"+ref+"/refer", url.Values{"unit": {unitIDByName(t, s, "Công an tỉnh")}, "share": {"what"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("refer: %d", r.StatusCode)
	}
	if r, _ := o.post("/tips/"+ref+"/status", url.Values{"status": {"forwarded"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("forwarded after the referral: %d", r.StatusCode)
	}
	if _, page := o.get("/tips/" + ref); !strings.Contains(page, "Đã cập nhật trạng thái") {
		t.Error("no flash after the status change")
	}
	if tip, _ := s.db.TipByReference(ctx, ref); tip.Status != "forwarded" {
		t.Errorf("status = %q, want forwarded", tip.Status)
	}

	// In one step: referred to the police with the box left ticked, the
	// report is forwarded too and its one-hour clock stops; referred to a
	// support service, the box changes nothing.
	ref2 := string(flows.NewReference([]byte{12, 12, 12, 12, 7, 8, 10}))
	commitReport(t, s, ref2, true, true, "cứu tôi")
	o.get("/tips/" + ref2)
	o.post("/tips/"+ref2+"/claim", nil)
	if _, page := o.get("/tips/" + ref2); !strings.Contains(page, `name="forward" value="1" checked`) {
		t.Fatal("the referral form does not offer to forward in the same step")
	}
	if r, _ := o.post("/tips/"+ref2+"/refer", url.Values{"unit": {unitIDByName(t, s, "Sở Y tế (bảo trợ xã hội)")}, "share": {"what"},
		"forward": {"1"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("refer to a support service: %d", r.StatusCode)
	}
	if tip, _ := s.db.TipByReference(ctx, ref2); tip.Status != "in_review" {
		t.Errorf("status after a referral to a support service = %q, want in_review: it is no authority", tip.Status)
	}
	if r, _ := o.post("/tips/"+ref2+"/refer", url.Values{"unit": {unitIDByName(t, s, "Công an tỉnh")}, "share": {"what"},
		"forward": {"1"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("refer to the police: %d", r.StatusCode)
	}
	if tip, _ := s.db.TipByReference(ctx, ref2); tip.Status != "forwarded" {
		t.Errorf("status after a referral to the police, box ticked = %q, want forwarded", tip.Status)
	}
	if _, page := o.get("/tips/" + ref2); !strings.Contains(page, "đã sang trạng thái") {
		t.Error("the flash does not say the report was forwarded too")
	}
}

// The canned replies offered "Chúng tôi đã chuyển cho nơi có trách nhiệm"
// on a report still new: one tap told the person something untrue. It is
// offered once the report has been referred; before, the thanks says it was
// received.
func TestConsoleCannedForwardedOnceReferred(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	if _, err := s.db.AddOfficer(ctx, "duty", "officer", "", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	ref := string(flows.NewReference([]byte{13, 13, 13, 13, 7, 8, 9}))
	commitReport(t, s, ref, false, true, "")
	o := newOfficer(t, s.console)
	o.login("duty", "correct horse battery staple")
	const forwarded, received = "Chúng tôi đã chuyển cho nơi có trách nhiệm", "Chúng tôi đã nhận được và đang xem xét"
	offered := func(when string, want, not string) {
		t.Helper()
		_, page := o.get("/tips/" + ref)
		i := strings.Index(page, `<select id="canned">`)
		if i < 0 {
			t.Fatalf("%s: no canned replies on the report page:\n%s", when, page)
		}
		canned := page[i : i+strings.Index(page[i:], "</select>")]
		if !strings.Contains(canned, want) || strings.Contains(canned, not) {
			t.Errorf("%s: canned replies %s\nwant %q and not %q", when, canned, want, not)
		}
	}
	offered("new", received, forwarded)
	if r, _ := o.post("/tips/"+ref+"/claim", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("claim: %d", r.StatusCode)
	}
	offered("in review", received, forwarded)
	if r, _ := o.post("/tips/"+ref+"/refer", url.Values{"unit": {unitIDByName(t, s, "Công an tỉnh")}, "share": {"what"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("refer: %d", r.StatusCode)
	}
	offered("referred", forwarded, received)
	if r, _ := o.post("/tips/"+ref+"/status", url.Values{"status": {"forwarded"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("forwarded: %d", r.StatusCode)
	}
	offered("forwarded", forwarded, received)
}

// `tinbao officer add --unit` refuses a unit that does not exist, naming the
// ones that do (its officer would see an empty queue and never know why),
// and adds the officer to one that does.
func TestOfficerAddUnknownUnit(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	env := func(k string) string { return s.env[k] }
	var out, errb strings.Builder
	err := run(ctx, []string{"officer", "add", "ghost", "--role", "officer", "--unit", "PC02 Đồng Tháp"}, env, strings.NewReader(""), &out, &errb)
	if err == nil || !strings.Contains(err.Error(), `no unit "PC02 Đồng Tháp"`) || !strings.Contains(err.Error(), `"Công an tỉnh"`) ||
		!strings.Contains(err.Error(), "/admin") {
		t.Fatalf("officer add with an unknown unit: %v, want a refusal listing the units", err)
	}
	if strings.Contains(out.String(), "password") {
		t.Errorf("a password was printed for an account that was not made: %q", out.String())
	}
	if _, err := s.db.OfficerByName(ctx, "ghost"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the account was made anyway: %v", err)
	}
	out.Reset()
	if err := run(ctx, []string{"officer", "add", "police1", "--role", "officer", "--unit", "Công an tỉnh"}, env, strings.NewReader(""), &out, &errb); err != nil {
		t.Fatalf("officer add with a unit that exists: %v %s", err, errb.String())
	}
	if o, err := s.db.OfficerByName(ctx, "police1"); err != nil || o.Unit != "Công an tỉnh" {
		t.Errorf("police1 = %+v, %v", o, err)
	}
}

// A help request is referred (chuyển tuyến) only where the person
// consented, with exactly the answers ticked; the receiving unit's officer
// sees only those, finds it in the unit's queue, and acknowledges receipt;
// every step is audited.
func TestConsoleReferral(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	for _, a := range []struct{ user, role, unit string }{{"intake", "officer", ""}, {"health1", "officer", "Sở Y tế (bảo trợ xã hội)"},
		{"police1", "officer", "Công an tỉnh"}} {
		if _, err := s.db.AddOfficer(ctx, a.user, a.role, a.unit, "correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
	}
	ref := string(flows.NewReference([]byte{9, 8, 7, 6, 5, 4, 3}))
	help := flows.Report{Kind: flows.KindHelp, Reference: flows.Reference(ref), Lang: "vi", Ack: "ack",
		Details: map[string]string{"who": "self", "where": "Tây Ninh", "needs": "shelter,home", "contact_when": "sau 9 giờ tối",
			"danger": "yes", "consent_police": "no", "consent_support": "yes"}}
	c, err := s.db.CommitTip(ctx, storage.NewTip{Report: help, Channel: "sms", SenderPseudonym: "p", SourceMessageID: "h1", Handle: "1"})
	if err != nil {
		t.Fatal(err)
	}
	units, _ := s.db.Units(ctx)
	unitID := func(name string) string {
		for _, u := range units {
			if u.Name == name {
				return fmt.Sprint(u.ID)
			}
		}
		t.Fatalf("no unit %q", name)
		return ""
	}
	in := newOfficer(t, s.console)
	in.login("intake", "correct horse battery staple")
	_, page := in.get("/tips/" + ref)
	if !strings.Contains(page, "Công an tỉnh — người nhờ giúp đã không đồng ý") {
		t.Errorf("the page does not say the person said no to the police (not 'not yet')")
	}
	// In danger, but asked and said no to the police: they are heard.
	if r, _ := in.post("/tips/"+ref+"/refer", url.Values{"unit": {unitID("Công an tỉnh")}, "share": {"where"},
		"emergency_reason": {"đang nguy hiểm"}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("referring without consent: %d, want 403", r.StatusCode)
	}
	if r, _ := in.post("/tips/"+ref+"/refer", url.Values{"unit": {unitID("Sở Y tế (bảo trợ xã hội)")}, "share": {"where", "needs"},
		"note": {"Cần chỗ ở an toàn gấp"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("referring to health: %d", r.StatusCode)
	}
	// A request whose person agreed to no unit says so plainly, with no
	// form of greyed-out units to submit.
	ref2 := string(flows.NewReference([]byte{9, 8, 7, 6, 5, 4, 2}))
	none := flows.Report{Kind: flows.KindHelp, Reference: flows.Reference(ref2), Lang: "vi", Ack: "ack",
		Details: map[string]string{"who": "family", "where": "Lào Cai"}}
	if _, err := s.db.CommitTip(ctx, storage.NewTip{Report: none, Channel: "web", SenderPseudonym: "q", SourceMessageID: "h2", Handle: "2"}); err != nil {
		t.Fatal(err)
	}
	if _, page := in.get("/tips/" + ref2); !strings.Contains(page, "chưa đồng ý cho chuyển lời nhờ giúp đến đơn vị nào") ||
		strings.Contains(page, `action="/tips/`+ref2+`/refer"`) {
		t.Errorf("a request with no consent: the page does not say it cannot be referred, or offers the form")
	}
	// Filtered by unit, the intake's queue shows it under health only.
	if _, q := in.get("/queue?unit=" + url.QueryEscape("Sở Y tế (bảo trợ xã hội)")); !strings.Contains(q, ref) {
		t.Errorf("the queue filtered by health lacks the report")
	}
	if _, q := in.get("/queue?unit=" + url.QueryEscape("Công an tỉnh")); strings.Contains(q, ref) {
		t.Errorf("the queue filtered by police shows a report referred to health")
	}
	// Notes for colleagues, never for the reporter.
	in.get("/tips/" + ref)
	if r, _ := in.post("/tips/"+ref+"/note", url.Values{"note": {"Đã gọi 111, chờ xác nhận chỗ ở; số người báo 0912 345 678"}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("note: %d", r.StatusCode)
	}
	if _, page := in.get("/tips/" + ref); !strings.Contains(page, "Đã gọi 111, chờ xác nhận chỗ ở") {
		t.Error("the note is not on the report page")
	}
	// The health officer finds it in the unit's queue and sees what was shared only.
	h := newOfficer(t, s.console)
	h.login("health1", "correct horse battery staple")
	_, q := h.get("/queue")
	if !strings.Contains(q, ref) {
		t.Errorf("the unit's queue lacks the referred report")
	}
	// Its counts are of what was referred to it (one), not of every report
	// (two): they said there was more than it could see.
	if !strings.Contains(q, "(1 tin đang chờ xử lý") {
		t.Errorf("the unit's queue counts what it cannot see:\n%s", q)
	}
	_, page = h.get("/tips/" + ref)
	if !strings.Contains(page, "Tây Ninh") || !strings.Contains(page, "Chỗ ở an toàn") || strings.Contains(page, "sau 9 giờ tối") {
		t.Errorf("the unit sees more or less than what was shared:\n%s", page)
	}
	// Nor the intake's notes (what the reporter said may be in them), the
	// audit trail or what was sent to the reporter; its own notes it sees.
	for _, hidden := range []string{"0912 345 678", "tip.referred", `action="/tips/` + ref + `/reply"`} {
		if strings.Contains(page, hidden) {
			t.Errorf("the unit's page shows %q", hidden)
		}
	}
	if r, _ := h.post("/tips/"+ref+"/note", url.Values{"note": {"Đã nhận, đang tìm chỗ ở"}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("the unit's note: %d", r.StatusCode)
	}
	if _, page := h.get("/tips/" + ref); !strings.Contains(page, "Đã nhận, đang tìm chỗ ở") {
		t.Errorf("the unit does not see its own note")
	}
	if r, _ := h.post("/tips/"+ref+"/reply", url.Values{"body": {"xin chào"}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("the unit writing to the reporter: %d, want 403", r.StatusCode)
	}
	// Another unit does not see it at all.
	p := newOfficer(t, s.console)
	p.login("police1", "correct horse battery staple")
	if code, _ := p.get("/tips/" + ref); code != http.StatusNotFound {
		t.Errorf("a unit it was not referred to: %d, want 404", code)
	}
	// Nor can it act on it, code in hand: every action is refused as the
	// page is, and nothing changes.
	for path, form := range map[string]url.Values{
		"claim": nil, "release": nil, "status": {"status": {"in_review"}}, "reply": {"body": {"xin chào"}},
		"note": {"note": {"ghi chú"}}, "refer": {"unit": {unitID("Công an tỉnh")}, "share": {"where"}},
		"clock": nil, "flag": {"reason": {"x"}}, "media/1": nil,
	} {
		method := p.post
		if path == "media/1" {
			method = func(path string, _ url.Values) (*http.Response, string) {
				code, body := p.get(path)
				return &http.Response{StatusCode: code}, body
			}
		}
		if r, _ := method("/tips/"+ref+"/"+path, form); r.StatusCode != http.StatusNotFound {
			t.Errorf("another unit's %s: %d, want 404", path, r.StatusCode)
		}
	}
	// Nor take the next report of the intake's queue.
	if r, _ := p.post("/queue/next", nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("a unit's officer taking the next report: %d, want 403", r.StatusCode)
	}
	if _, q := p.get("/queue"); strings.Contains(q, `action="/queue/next"`) {
		t.Errorf("a unit's officer is offered the next report")
	}
	if got, _ := s.db.TipByReference(ctx, ref); got.ClaimedBy != "" || got.Status != "new" {
		t.Errorf("after another unit's attempts: claimed by %q, status %q", got.ClaimedBy, got.Status)
	}
	refs, _ := s.db.Referrals(ctx, c.TipID)
	if len(refs) != 1 || refs[0].AcknowledgedAt != nil || len(refs[0].Shared) != 2 {
		t.Fatalf("referrals = %+v", refs)
	}
	if r, _ := p.post("/tips/"+ref+"/referrals/"+fmt.Sprint(refs[0].ID)+"/ack", nil); r.StatusCode == http.StatusSeeOther {
		t.Error("another unit acknowledged the referral")
	}
	if r, _ := h.post("/tips/"+ref+"/referrals/"+fmt.Sprint(refs[0].ID)+"/ack", nil); r.StatusCode != http.StatusSeeOther {
		t.Errorf("acknowledge: %d", r.StatusCode)
	}
	refs, _ = s.db.Referrals(ctx, c.TipID)
	if refs[0].AcknowledgedAt == nil || refs[0].AcknowledgedBy != "health1" {
		t.Errorf("after acknowledging: %+v", refs[0])
	}
	events, _ := s.db.TipEvents(ctx, c.TipID)
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Actor+" "+e.Action)
	}
	for _, want := range []string{"intake tip.referred", "health1 tip.viewed", "health1 tip.referral_acknowledged"} {
		if !strings.Contains(strings.Join(actions, "|"), want) {
			t.Errorf("audit lacks %q: %v", want, actions)
		}
	}
	// The unit that got a 404 did not see the report: no view is recorded.
	if strings.Contains(strings.Join(actions, "|"), "police1 tip.viewed") {
		t.Errorf("a refused view was audited as a view: %v", actions)
	}
}

// The plan's figures by week, their CSV export (supervisors only, audited,
// without any identity or words of the reporters'), and /metrics.
func TestConsoleKPIsExportsAndMetrics(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	for _, a := range []struct{ user, role string }{{"duty", "officer"}, {"chief", "supervisor"}} {
		if _, err := s.db.AddOfficer(ctx, a.user, a.role, "", "correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		commitReport(t, s, string(flows.NewReference([]byte{byte(i), 2, 3, 4, 5, 6, 7})), i == 0, false, "")
	}
	newWebClient(t, s.url).send("/start", "") // one message through the intake
	o := newOfficer(t, s.console)
	o.login("duty", "correct horse battery staple")
	o.get("/queue")
	o.post("/queue/next", nil) // one report triaged
	if code, page := o.get("/kpi"); code != http.StatusOK || !strings.Contains(page, "<svg") || !strings.Contains(page, ">3<") {
		t.Errorf("KPI page (%d):\n%s", code, page)
	}
	if code, _ := o.get("/kpi.csv"); code != http.StatusForbidden {
		t.Errorf("an officer's export: %d, want 403", code)
	}
	sup := newOfficer(t, s.console)
	sup.login("chief", "correct horse battery staple")
	code, body := sup.get("/kpi.csv")
	if code != http.StatusOK || !strings.HasPrefix(body, "week,channel,kind,received,handled,decided") || !strings.Contains(body, ",web,tip,3,") {
		t.Errorf("KPI CSV (%d):\n%s", code, body)
	}
	code, body = sup.get("/export/tips.csv")
	if code != http.StatusOK || strings.Count(body, "\n") != 4 || strings.Contains(body, "Campuchia") || strings.Contains(body, "Bavet") {
		t.Errorf("reports CSV (%d) is wrong or carries the reporters' words:\n%s", code, body)
	}
	var exports int
	s.db.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE actor = 'chief' AND action IN ('kpi.exported', 'tips.exported')`).Scan(&exports)
	if exports != 2 {
		t.Errorf("%d exports audited, want 2", exports)
	}
	resp, err := http.Get(s.console + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`tinbao_tips{channel="web",kind="tip",status="new"} 2`, `tinbao_tips{channel="web",kind="tip",status="in_review"} 1`,
		"tinbao_outbox_lag_seconds", `tinbao_deadlines_at_risk{state="overdue"} 0`, `tinbao_messages_total{channel="web",outcome="handled"} 1`,
		"go_goroutines ", "process_open_fds "} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, b)
		}
	}
}

var secretAttr = regexp.MustCompile(`data-secret="([A-Z2-7]+)"`)

// Two-factor sign-in: required for an administrator, who is sent to turn it
// on before anything else; afterwards the password alone is not enough, a
// wrong code is refused, and a code is used once.
func TestConsoleTwoFactor(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	if _, err := s.db.AddOfficer(ctx, "root", "admin", "", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	a := newOfficer(t, s.console)
	if r := a.login("root", "correct horse battery staple"); r.Header.Get("Location") != "/account/2fa" {
		t.Fatalf("an admin without two-factor is sent to %q, want /account/2fa", r.Header.Get("Location"))
	}
	if code, _ := a.get("/queue"); code != http.StatusSeeOther {
		t.Errorf("an admin without two-factor reached the queue: %d", code)
	}
	_, page := a.get("/account/2fa")
	m := secretAttr.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no secret on the page:\n%s", page)
	}
	if code, _ := a.get("/account/2fa/qr.png"); code != http.StatusOK {
		t.Errorf("QR code: %d", code)
	}
	if r, _ := a.post("/account/2fa", url.Values{"code": {"000000"}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong code turned it on: %d", r.StatusCode)
	}
	now, _ := totp.GenerateCode(m[1], time.Now())
	if r, _ := a.post("/account/2fa", url.Values{"code": {now}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("turning it on: %d", r.StatusCode)
	}
	// Sign in again: the password leads to the code, not to the queue.
	b := newOfficer(t, s.console)
	if r := b.login("root", "correct horse battery staple"); r.Header.Get("Location") != "/login/2fa" {
		t.Fatalf("after the password: %q, want /login/2fa", r.Header.Get("Location"))
	}
	if code, _ := b.get("/queue"); code != http.StatusSeeOther {
		t.Errorf("the queue before the code: %d", code)
	}
	b.get("/login/2fa")
	if r, _ := b.post("/login/2fa", url.Values{"code": {"123456"}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong code: %d, want 401", r.StatusCode)
	}
	code, _ := totp.GenerateCode(m[1], time.Now())
	r, _ := b.post("/login/2fa", url.Values{"code": {code}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/queue" {
		t.Fatalf("the right code: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if got, _ := b.get("/queue"); got != http.StatusOK {
		t.Errorf("queue after two-factor sign-in: %d", got)
	}
	// The administrator creates an account (its password shown once),
	// disables it, and adds a unit.
	b.get("/admin")
	r2, page := b.post("/admin/officers", url.Values{"username": {"newcomer"}, "role": {"officer"}, "unit": {""}})
	pw := regexp.MustCompile(`data-password>([^<]+)<`).FindStringSubmatch(page)
	if r2.StatusCode != http.StatusOK || pw == nil {
		t.Fatalf("add officer: %d\n%s", r2.StatusCode, page)
	}
	if r := newOfficer(t, s.console).login("newcomer", pw[1]); r.Header.Get("Location") != "/queue" {
		t.Errorf("the new account cannot sign in: %s", r.Header.Get("Location"))
	}
	if r, page := b.post("/admin/officers", url.Values{"username": {"ghost"}, "role": {"officer"}, "unit": {"PC02 Đồng Tháp"}}); r.StatusCode != http.StatusBadRequest ||
		!strings.Contains(page, "Không có đơn vị này") {
		t.Errorf("an account in a unit that does not exist: %d, want 400 and a clear message", r.StatusCode)
	}
	if r, _ := b.post("/admin/officers/disable", url.Values{"username": {"newcomer"}, "disable": {"1"}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("disable: %d", r.StatusCode)
	}
	if r := newOfficer(t, s.console).login("newcomer", pw[1]); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a disabled account signs in: %d", r.StatusCode)
	}
	b.post("/admin/units", url.Values{"name": {"Công an xã Mỹ Tho"}, "kind": {"police"}})
	if units, _ := s.db.Units(ctx); len(units) != 6 {
		t.Errorf("units = %+v, want the five and the new one", units)
	}
	// The same code again, on another device: refused.
	c := newOfficer(t, s.console)
	c.login("root", "correct horse battery staple")
	c.get("/login/2fa")
	// (This is also the sixth sign-in step for the account in 15 minutes:
	// throttled or refused, it must not sign in.)
	if r, _ := c.post("/login/2fa", url.Values{"code": {code}}); r.StatusCode != http.StatusUnauthorized && r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a code used twice: %d, want 401 (or 429)", r.StatusCode)
	}
	if got, _ := c.get("/queue"); got != http.StatusSeeOther {
		t.Errorf("a replayed code signed in: %d", got)
	}
}

// An officer who lost the phone with their authenticator is not locked out
// for good: 'tinbao officer reset-2fa' turns two-step sign-in off and ends
// their sessions; an administrator must set it up again before anything
// else, anyone else signs in with the password.
func TestOfficerResetTwoFactor(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	const password = "correct horse battery staple"
	secret := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	for _, a := range []struct{ user, role string }{{"lead", "supervisor"}, {"root", "admin"}} {
		if _, err := s.db.AddOfficer(ctx, a.user, a.role, "", password); err != nil {
			t.Fatal(err)
		}
		if err := s.db.SetTOTP(ctx, a.user, secret); err != nil {
			t.Fatal(err)
		}
	}
	signedIn := newOfficer(t, s.console)
	if r := signedIn.login("lead", password); r.Header.Get("Location") != "/login/2fa" {
		t.Fatalf("with two-step sign-in on, the password led to %q", r.Header.Get("Location"))
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	if r, _ := signedIn.post("/login/2fa", url.Values{"code": {code}}); r.Header.Get("Location") != "/queue" {
		t.Fatalf("the code: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	env := func(k string) string { return s.env[k] }
	for _, user := range []string{"lead", "root"} {
		var out, errb strings.Builder
		if err := run(ctx, []string{"officer", "reset-2fa", user}, env, strings.NewReader(""), &out, &errb); err != nil {
			t.Fatalf("officer reset-2fa %s: %v %s", user, err, errb.String())
		}
	}
	if code, _ := signedIn.get("/queue"); code != http.StatusSeeOther {
		t.Errorf("a session from before the reset: %d, want a redirect to /login", code)
	}
	if r := newOfficer(t, s.console).login("lead", password); r.Header.Get("Location") != "/queue" {
		t.Errorf("the supervisor after the reset is sent to %q, want /queue", r.Header.Get("Location"))
	}
	if r := newOfficer(t, s.console).login("root", password); r.Header.Get("Location") != "/account/2fa" {
		t.Errorf("the administrator after the reset is sent to %q, want /account/2fa to set it up again", r.Header.Get("Location"))
	}
	var out, errb strings.Builder
	if err := run(ctx, []string{"officer", "reset-2fa", "nobody"}, env, strings.NewReader(""), &out, &errb); err == nil ||
		!strings.Contains(err.Error(), "no officer") {
		t.Errorf("reset-2fa of no one: %v", err)
	}
	entries, err := s.db.AuditLog(ctx, storage.AuditFilter{Action: "officer.totp_reset"})
	if err != nil || len(entries) != 2 {
		t.Errorf("audit of the resets = %+v, %v", entries, err)
	}
}

// A supervisor assigns a report; an officer closes another as its duplicate,
// naming it, and the first report's page then carries both; the audit log
// page, for supervisors only, shows who did what.
func TestConsoleSupervisor(t *testing.T) {
	s := startService(t, nil)
	ctx := context.Background()
	for _, a := range []struct{ user, role string }{{"duty", "officer"}, {"chief", "supervisor"}} {
		if _, err := s.db.AddOfficer(ctx, a.user, a.role, "", "correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
	}
	first, second := string(flows.NewReference([]byte{1, 1, 1, 1, 1, 1, 2})), string(flows.NewReference([]byte{2, 2, 2, 2, 2, 2, 3}))
	commitReport(t, s, first, false, false, "")
	dup := commitReport(t, s, second, false, true, "")
	if err := s.db.AppendReply(ctx, second, "p-"+second, "web", "m1", "Tôi gửi thêm: họ ở nhà số 5"); err != nil {
		t.Fatal(err)
	}
	sup := newOfficer(t, s.console)
	sup.login("chief", "correct horse battery staple")
	sup.get("/tips/" + first)
	if r, _ := sup.post("/tips/"+first+"/assign", url.Values{"to": {"duty"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("assign: %d", r.StatusCode)
	}
	o := newOfficer(t, s.console)
	o.login("duty", "correct horse battery staple")
	if _, q := o.get("/queue?mine=1"); !strings.Contains(q, first) {
		t.Error("the assigned report is not in the officer's own list")
	}
	if code, _ := o.get("/audit"); code != http.StatusForbidden {
		t.Errorf("an officer's audit page: %d, want 403", code)
	}
	o.get("/tips/" + second)
	o.post("/tips/"+second+"/claim", nil)
	if r, _ := o.post("/tips/"+second+"/status", url.Values{"status": {"duplicate"}}); r.StatusCode != http.StatusSeeOther ||
		r.Header.Get("Location") != "/tips/"+second {
		t.Errorf("a duplicate of nothing: %d %s, want back to the report", r.StatusCode, r.Header.Get("Location"))
	}
	if _, page := o.get("/tips/" + second); !strings.Contains(page, `class="flash refused"`) || !strings.Contains(page, "mã của tin bị trùng") {
		t.Error("a duplicate of nothing is not refused on the report's page")
	}
	if r, _ := o.post("/tips/"+second+"/status", url.Values{"status": {"duplicate"}, "of": {strings.ToLower(first)}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("merge: %d", r.StatusCode)
	}
	_, page := o.get("/tips/" + first)
	if !strings.Contains(page, second) || !strings.Contains(page, "họ ở nhà số 5") {
		t.Errorf("the first report's page lacks its duplicate and its thread:\n%s", page)
	}
	if tip, _ := s.db.TipByReference(ctx, second); tip.Status != "duplicate" || tip.ID != dup.TipID {
		t.Errorf("second = %+v", tip)
	}
	_, page = sup.get("/audit?code=" + first)
	for _, want := range []string{"tip.assigned", "chief", "tip.viewed"} {
		if !strings.Contains(page, want) {
			t.Errorf("audit page for %s lacks %q", first, want)
		}
	}
	if _, page = sup.get("/audit?action=tip.merged"); !strings.Contains(page, "duty") || !strings.Contains(page, second) {
		t.Errorf("audit page lacks the merge")
	}
	// An urgent report two hours old and not handed on: late, on the
	// supervisors' page, under the intake team.
	old := string(flows.NewReference([]byte{3, 3, 3, 3, 3, 3, 4}))
	commitReport(t, s, old, true, false, "")
	if _, err := s.db.Pool().Exec(ctx, `UPDATE tips SET created_at = now() - interval '2 hours' WHERE reference = $1`, old); err != nil {
		t.Fatal(err)
	}
	if code, page := sup.get("/late"); code != http.StatusOK || !strings.Contains(page, old) || !strings.Contains(page, "quá hạn") ||
		!strings.Contains(page, "Tổ tiếp nhận") || strings.Contains(page, first) {
		t.Errorf("late page (%d):\n%s", code, page)
	}
	if code, _ := o.get("/late"); code != http.StatusForbidden {
		t.Errorf("an officer's late page: %d, want 403", code)
	}
	// The decision clock: extension only after "complex", each once.
	sup.get("/tips/" + first)
	if r, _ := sup.post("/tips/"+first+"/clock", url.Values{"clock": {"extend"}}); r.StatusCode != http.StatusConflict {
		t.Errorf("extending a report not marked complex: %d, want 409", r.StatusCode)
	}
	for _, k := range []string{"complex", "extend"} {
		if r, _ := sup.post("/tips/"+first+"/clock", url.Values{"clock": {k}}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("%s: %d", k, r.StatusCode)
		}
	}
	if tip, _ := s.db.TipByReference(ctx, first); !tip.Complex || !tip.Extended {
		t.Errorf("clock = %+v", tip)
	}
}
