package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tinbao/bot/sms/smstest"
)

// conv is one whole conversation of one simulated person: a report by
// Telegram (a chat ID) or by SMS through Twilio (a phone number). Its story
// carries a token, so that its report is found again in Postgres.
type conv struct {
	id     int64
	chatID int64
	phone  string
	story  string
	sentOK bool // "send" was answered 200 (Telegram) or with empty TwiML (SMS)
}

var tokenRE = regexp.MustCompile(`K(\d+)K`)

// loadStats counts what the load generator saw.
type loadStats struct {
	requests, ok, unavailable, otherStatus, refused, broken, busy atomic.Int64
	idleClosed                                                    atomic.Int64
	held                                                          atomic.Int64 // SMS kept to be handled later
	mu                                                            sync.Mutex
	slow503                                                       time.Duration // the slowest 503
}

// heldNotice is in the one text Twilio says to a person whose SMS is kept
// to be handled later (common.held_sms, without marks): they need not, and
// do not, send it again.
const heldNotice = "khong can gui lai"

func (s *loadStats) saw503(d time.Duration) {
	s.unavailable.Add(1)
	s.mu.Lock()
	s.slow503 = max(s.slow503, d)
	s.mu.Unlock()
}

// load runs cfg.people people, each doing whole conversations one after the
// other until ctx ends; a conversation under way then finishes (its retries
// included), as a person would.
func (h *harness) load(ctx context.Context) *loadStats {
	st := &loadStats{}
	var wg sync.WaitGroup
	for p := range h.cfg.people {
		wg.Go(func() {
			for ctx.Err() == nil {
				c := h.newConv(p%4 == 3) // one person in four writes by SMS
				if c.phone != "" {
					h.smsReport(st, c)
				} else {
					h.telegramReport(st, c)
				}
			}
		})
	}
	wg.Wait()
	h.reqLog.printf("load done: %d requests", st.requests.Load())
	return st
}

func (h *harness) newConv(sms bool) *conv {
	id := h.nextConv.Add(1)
	c := &conv{id: id}
	if sms {
		c.phone = fmt.Sprintf("+8490%07d", id)
		c.story = fmt.Sprintf("co nguoi ru con gai toi di lam nha hang o Trung Quoc, ma dien tap K%dK", id)
	} else {
		c.chatID = 700_000_000 + id
		c.story = fmt.Sprintf("Người lạ hứa việc nhẹ lương cao cho con gái tôi ở Campuchia, mã diễn tập K%dK", id)
	}
	h.mu.Lock()
	h.convs = append(h.convs, c)
	h.mu.Unlock()
	return c
}

// convsSince lists the conversations started after the first given ID.
func (h *harness) convsSince(first int64) []*conv {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*conv
	for _, c := range h.convs {
		if c.id > first {
			out = append(out, c)
		}
	}
	return out
}

// telegramReport is reportTo's conversation over the webhook: /baotin, the
// category skipped, the story, then every question skipped, then send.
func (h *harness) telegramReport(st *loadStats, c *conv) {
	steps := []func(id int) []byte{
		func(id int) []byte { return textUpdateFrom(id, c.chatID, "/baotin") },
		func(id int) []byte { return callbackUpdateFrom(id, c.chatID, "skip") },
		func(id int) []byte { return textUpdateFrom(id, c.chatID, c.story) },
		func(id int) []byte { return callbackUpdateFrom(id, c.chatID, "next") },
	}
	for range 8 { // where, when, people, child, danger, media, contact, follow-up
		steps = append(steps, func(id int) []byte { return callbackUpdateFrom(id, c.chatID, "skip") })
	}
	steps = append(steps, func(id int) []byte { return callbackUpdateFrom(id, c.chatID, "send") })
	for i, step := range steps {
		id := int(h.nextID.Add(1))
		if !h.telegramUpdate(st, c, id, step(id)) {
			return
		}
		if i == len(steps)-1 {
			c.sentOK = true
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// telegramUpdate posts one update until it is answered 200, as Telegram
// does: the same update_id again after a 5xx or a failed connection,
// through whichever replica the balancer picks. It gives up after a minute.
func (h *harness) telegramUpdate(st *loadStats, c *conv, id int, body []byte) bool {
	deadline := time.Now().Add(time.Minute)
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		rep := h.reps[(int(c.id)+attempt)%len(h.reps)]
		req, _ := http.NewRequest(http.MethodPost, rep.url()+"/webhooks/telegram", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", drillWebhookSecret)
		if h.answered(st, rep, fmt.Sprintf("tg conv=%d update=%d", c.id, id), req) == http.StatusOK {
			return true
		}
		time.Sleep(min(time.Duration(attempt+1)*100*time.Millisecond, time.Second))
	}
	h.reqLog.printf("tg conv=%d update=%d GAVE UP", c.id, id)
	return false
}

// answered sends one request and logs and counts its answer; it returns the
// HTTP status, 0 for a request that got none.
func (h *harness) answered(st *loadStats, rep *replica, what string, req *http.Request) int {
	st.requests.Add(1)
	start := time.Now()
	var reused bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
	resp, err := h.client.Do(req)
	took := time.Since(start)
	if err != nil {
		switch {
		case isRefused(err):
			st.refused.Add(1)
		case reused && errors.Is(err, io.EOF):
			// HTTP/1.1's race: the request went out on a kept-alive
			// connection as the server closed it for being idle (at
			// shutdown). The server read none of it; Telegram resends.
			st.idleClosed.Add(1)
		default:
			st.broken.Add(1)
		}
		h.reqLog.printf("%s → %s: error after %s: %v", what, rep.name, took.Round(time.Millisecond), err)
		return 0
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		st.ok.Add(1)
	case resp.StatusCode == http.StatusServiceUnavailable:
		st.saw503(took)
	default:
		st.otherStatus.Add(1)
	}
	h.reqLog.printf("%s → %s: %d in %s %s", what, rep.name, resp.StatusCode, took.Round(time.Millisecond), bytes.TrimSpace(b))
	if resp.StatusCode == http.StatusOK && bytes.Contains(b, []byte(heldNotice)) {
		st.held.Add(1)
		return resp.StatusCode
	}
	if resp.StatusCode == http.StatusOK && bytes.Contains(b, []byte("<Message>")) {
		st.busy.Add(1)
		return -1 // Twilio says "busy, send again" to the person
	}
	return resp.StatusCode
}

// smsReport is reportBySMS's conversation through Twilio. Twilio does not
// retry a webhook: after a "busy" answer, an error or no answer, the person
// sends the same words again (a new MessageSid); told that their SMS is
// kept, they go on.
func (h *harness) smsReport(st *loadStats, c *conv) {
	steps := []string{"BAO TIN", "1", c.story, "0", "4", "2", "1", "2", "1"}
	for i, text := range steps {
		if !h.sms(st, c, text) {
			return
		}
		if i == len(steps)-1 {
			c.sentOK = true
		}
		time.Sleep(300 * time.Millisecond) // past JOIN_WINDOW: a new answer
	}
}

func (h *harness) sms(st *loadStats, c *conv, text string) bool {
	public := h.reps[0].env["PUBLIC_URL"] + "/webhooks/twilio/sms"
	deadline := time.Now().Add(time.Minute)
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		rep := h.reps[(int(c.id)+attempt)%len(h.reps)]
		sid := fmt.Sprintf("SM%032d", h.nextID.Add(1))
		form := h.tw.InboundForm(sid, c.phone, drillTwilioNumber, text)
		req, _ := http.NewRequest(http.MethodPost, rep.url()+"/webhooks/twilio/sms", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", smstest.SignTwilio(drillTwilioToken, public, form))
		if h.answered(st, rep, fmt.Sprintf("sms conv=%d sid=%s", c.id, sid), req) == http.StatusOK {
			return true
		}
		time.Sleep(500 * time.Millisecond)
	}
	h.reqLog.printf("sms conv=%d GAVE UP on %q", c.id, text)
	return false
}

// drillRow is one line of the table, and what went wrong.
type drillRow struct {
	name                       string
	load                       *loadStats
	expected, committed        int
	lost, dups, doubled        int
	acked, dupAcks             int
	receipts                   bool
	cutAllowed                 bool // a kill -9 cuts requests in flight
	receiptsSent               int
	drain                      time.Duration
	before, after              figures
	smsDoubled                 int
	problems                   []string
	notes                      []string
	settled                    time.Duration
	convs, telegram, smsConvs  int
	unacked, sqlDups, backward int
}

func (r *drillRow) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *drillRow) ok() bool { return len(r.problems) == 0 }

func (r *drillRow) summary() string {
	s := fmt.Sprintf("%d conversations, %d requests, %d×503, %d busy SMS, %d held; %d reports (%d expected), %d lost, %d duplicates, %d acknowledged, settled in %s",
		r.convs, r.load.requests.Load(), r.load.unavailable.Load(), r.load.busy.Load(), r.load.held.Load(), r.committed, r.expected, r.lost, r.dups, r.acked, r.settled.Round(time.Second))
	if len(r.notes) > 0 {
		s += "; " + strings.Join(r.notes, "; ")
	}
	return s
}

var refRE = regexp.MustCompile(`TB-[0-9A-Z]{4}-[0-9A-Z]{4}`)

// acksAtFakes counts, per reference code, the messages that carried it to a
// person through the fake Bot API or the fake Twilio.
func (h *harness) acksAtFakes() map[string]int {
	n := map[string]int{}
	for _, m := range h.tg.Sent() {
		for _, ref := range refRE.FindAllString(m.Text, 1) {
			n[ref]++
		}
	}
	for _, m := range h.tw.Messages() {
		for _, ref := range refRE.FindAllString(m.Body, 1) {
			n[ref]++
		}
	}
	return n
}

type drillTip struct {
	id        int64
	reference string
	what      string
	channel   string
}

// tipsOf reads every report in Postgres whose story carries a token of convs.
func (h *harness) tipsOf(convs map[int64]*conv) (map[int64][]drillTip, error) {
	tips, err := h.db.OpenTips(context.Background(), 1_000_000)
	if err != nil {
		return nil, err
	}
	out := map[int64][]drillTip{}
	for _, t := range tips {
		m := tokenRE.FindStringSubmatch(t.Details["what"])
		if m == nil {
			continue
		}
		id, _ := strconv.ParseInt(m[1], 10, 64)
		if _, ok := convs[id]; ok {
			out[id] = append(out[id], drillTip{id: t.ID, reference: t.Reference, what: t.Details["what"], channel: t.Channel})
		}
	}
	return out, nil
}

// ackStatus is each report's acknowledgement state in the outbox.
func (h *harness) ackStatus() (map[int64]string, error) {
	rows, err := h.db.Pool().Query(context.Background(), `SELECT tip_id, status FROM outbox WHERE kind = 'ack' AND tip_id IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var st string
		if err := rows.Scan(&id, &st); err != nil {
			return nil, err
		}
		out[id] = st
	}
	return out, rows.Err()
}

// settle waits until the conversations' reports are acknowledged at the
// fakes (or cfg.settle passes): receipts are fired only for messages sent.
func (h *harness) settle(convs []*conv) {
	scratch := drillRow{load: &loadStats{}}
	h.check(&scratch, convs)
}

// check waits for the outbox to settle, then checks the invariants.
func (h *harness) check(r *drillRow, convs []*conv) {
	byID := map[int64]*conv{}
	for _, c := range convs {
		byID[c.id] = c
		if c.sentOK {
			r.expected++
		}
		if c.phone != "" {
			r.smsConvs++
		} else {
			r.telegram++
		}
	}
	r.convs = len(convs)
	start := time.Now()
	var tips map[int64][]drillTip
	var acks map[int64]string
	var fake map[string]int
	for {
		var err error
		if tips, err = h.tipsOf(byID); err == nil {
			acks, err = h.ackStatus()
		}
		if err != nil {
			r.problem("reading Postgres: %v", err)
			return
		}
		fake = h.acksAtFakes()
		if h.unacked(tips, acks, fake, r.receipts) == 0 || time.Since(start) > h.cfg.settle {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	r.settled = time.Since(start)
	for id, c := range byID {
		ts := tips[id]
		r.committed += len(ts)
		if c.sentOK && len(ts) == 0 {
			r.lost++
		}
		if len(ts) > 1 {
			r.dups += len(ts) - 1
		}
		for _, t := range ts {
			if t.what != c.story {
				if c.phone != "" {
					r.smsDoubled++
				} else {
					r.doubled++
				}
				r.notes = append(r.notes, fmt.Sprintf("conversation %d's story reads %q", id, t.what))
			}
			if ackDone(acks[t.id], r.receipts && c.phone != "") && fake[t.reference] > 0 {
				r.acked++
			}
			if fake[t.reference] > 1 {
				r.dupAcks++
			}
		}
	}
	r.unacked = h.unacked(tips, acks, fake, r.receipts)
	ctx := context.Background()
	h.db.Pool().QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM tips GROUP BY channel, source_message_id HAVING count(*) > 1) d`).Scan(&r.sqlDups)
	h.db.Pool().QueryRow(ctx, sqlReceiptAhead).Scan(&r.backward)
	h.judge(r)
}

// ackDone: an acknowledgement counts once the provider took it (sent), or,
// where receipts were fired, once a receipt said delivered.
func ackDone(status string, wantDelivered bool) bool {
	if wantDelivered {
		return status == "delivered"
	}
	return status == "sent" || status == "delivered"
}

func (h *harness) unacked(tips map[int64][]drillTip, acks map[int64]string, fake map[string]int, receipts bool) int {
	n := 0
	for _, ts := range tips {
		for _, t := range ts {
			if !ackDone(acks[t.id], receipts && t.channel == "sms") || fake[t.reference] == 0 {
				n++
			}
		}
	}
	return n
}

// judge turns counts into problems, and looks for crashes and races.
func (h *harness) judge(r *drillRow) {
	if r.lost > 0 {
		r.problem("%d reports answered 200 on send are not in Postgres", r.lost)
	}
	if r.dups > 0 || r.sqlDups > 0 {
		r.problem("%d duplicate reports (%d duplicate source keys)", r.dups, r.sqlDups)
	}
	if r.doubled > 0 {
		r.problem("%d Telegram reports hold an answer applied twice", r.doubled)
	}
	if r.unacked > 0 {
		r.problem("%d committed reports not acknowledged after %s", r.unacked, r.settled.Round(time.Second))
	}
	if r.backward > 0 {
		r.problem("%d outbox rows behind a receipt they had", r.backward)
	}
	if r.load.otherStatus.Load() > 0 {
		r.problem("%d answers neither 200 nor 503", r.load.otherStatus.Load())
	}
	if n := r.load.broken.Load(); n > 0 && !r.cutAllowed {
		r.problem("%d requests lost their answer in flight", n)
	}
	if r.load.slow503 > 2*time.Second {
		r.problem("slowest 503 took %s", r.load.slow503.Round(time.Millisecond))
	}
	if r.smsDoubled > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%d SMS reports hold an answer sent twice by a person told to send again", r.smsDoubled))
	}
	for _, rep := range h.reps {
		if !rep.alive() {
			r.problem("replica %s is not running: %v", rep.name, rep.exitErr)
		}
		b, _ := os.ReadFile(rep.logPath)
		for _, bad := range []string{"panic:", "DATA RACE", "fatal error:", "may not move"} {
			if n := bytes.Count(b, []byte(bad)); n > 0 {
				r.problem("%s's log has %d × %q", rep.name, n, bad)
			}
		}
	}
}

// compareFigures: after the drill, goroutines and open files are back to
// what they were, within a small slack (pools that grew under load).
func (r *drillRow) compareFigures() {
	for _, p := range r.figureProblems() {
		r.problem("%s", p)
	}
}

func (r *drillRow) figureProblems() []string {
	const slack = 8
	names := make([]string, 0, len(r.before))
	for n := range r.before {
		names = append(names, n)
	}
	sort.Strings(names)
	var problems []string
	for _, n := range names {
		b, a := r.before[n], r.after[n]
		if a[0] > b[0]+slack {
			problems = append(problems, fmt.Sprintf("%s: goroutines %d → %d", n, b[0], a[0]))
		}
		if a[1] > b[1]+slack {
			problems = append(problems, fmt.Sprintf("%s: open files %d → %d", n, b[1], a[1]))
		}
	}
	return problems
}

func (f figures) column(i int, names []string) string {
	var parts []string
	for _, n := range names {
		parts = append(parts, strconv.Itoa(f[n][i]))
	}
	return strings.Join(parts, "/")
}

// formatTable renders the rows as the README's Markdown table.
func formatTable(rows []drillRow, cfg drillConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nFault drills: 2 replicas, %d people, %s of load per drill, outages of %s\n\n", cfg.people, cfg.load, cfg.outage)
	b.WriteString("| drill | requests | 503s (slowest) | busy / held SMS | refused / idle-closed / cut | reports (expected) | lost | dups | acks delivered | drain | goroutines r1/r2 before → after | fds r1/r2 before → after | invariants |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	names := []string{"r1", "r2"}
	for _, r := range rows {
		drain := "—"
		if r.drain > 0 {
			drain = r.drain.Round(time.Millisecond).String()
		}
		verdict := "OK"
		if !r.ok() {
			verdict = "FAIL: " + strings.Join(r.problems, "; ")
		}
		fmt.Fprintf(&b, "| %s | %d | %d (%s) | %d / %d | %d / %d / %d | %d (%d) | %d | %d | %d / %d | %s | %s → %s | %s → %s | %s |\n",
			r.name, r.load.requests.Load(), r.load.unavailable.Load(), r.load.slow503.Round(time.Millisecond), r.load.busy.Load(), r.load.held.Load(),
			r.load.refused.Load(), r.load.idleClosed.Load(), r.load.broken.Load(), r.committed, r.expected, r.lost, r.dups, r.acked, r.committed, drain,
			r.before.column(0, names), r.after.column(0, names), r.before.column(1, names), r.after.column(1, names), verdict)
	}
	return b.String()
}
