package bot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tinbao/flows"
	"tinbao/identity"
	"tinbao/locales"
)

// memSessions and memTips implement the runner's own interfaces in memory,
// with switches for the failures the runner must survive. The real Redis and
// Postgres stores are tested in storage and end to end in cmd/tinbao.
type memSessions struct {
	mu       sync.Mutex
	sessions map[string]flows.Session
	seen     map[string]bool
	counts   map[string]int
	busy     int // Begin answers ErrBusy this many more times
	failSave int // Finish fails this many more times
	released int
	finished int
	recent   map[string]int // messages per sender (one window that never ends)
	turns    int            // turns answered on any channel (one second that never ends)
	turnsOn  map[string]int // turns answered per channel (the same second)
	thread   bool           // an officer wrote: Begin says so
}

func (m *memSessions) Begin(_ context.Context, channel, id, sender, _ string, _ int64) (Begun, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[channel+id] {
		return Begun{}, ErrDuplicate
	}
	if m.busy > 0 {
		m.busy--
		return Begun{}, ErrBusy
	}
	if m.recent == nil {
		m.recent = map[string]int{}
	}
	m.recent[sender]++
	return Begun{Session: m.sessions[sender], Recent: m.recent[sender], Turns: m.turnsOn[channel], Thread: m.thread}, nil
}

func (m *memSessions) Finish(_ context.Context, channel, id, sender, _ string, s flows.Session, answered bool, _ int) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failSave > 0 {
		m.failSave--
		return 0, errors.New("redis: connection refused")
	}
	m.sessions[sender] = s
	m.seen[channel+id] = true
	m.finished++
	if answered {
		m.turns++
		if m.turnsOn == nil {
			m.turnsOn = map[string]int{}
		}
		m.turnsOn[channel]++
	}
	return 0, nil
}

func (m *memSessions) Forget(_ context.Context, sender string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, sender)
	return nil
}

func (m *memSessions) Allow(_ context.Context, key string, limit int, _ time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts[key]++
	return m.counts[key] <= limit, nil
}

// AllowEach counts as the Redis script does: in order, stopping at the
// first refusal.
func (m *memSessions) AllowEach(_ context.Context, limits []Limit) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, l := range limits {
		m.counts[l.Key]++
		if m.counts[l.Key] > l.N {
			return i, nil
		}
	}
	return -1, nil
}

func (m *memSessions) Release(ctx context.Context, _, _ string) error {
	if err := ctx.Err(); err != nil {
		return err // as Redis's client: an ended context sends nothing
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.released++
	return nil
}

type memTips struct {
	mu        sync.Mutex
	reads     int     // Status calls: a refused lookup must make none
	fail      []error // returned by the next Commit calls, in order
	committed []Submission
}

func (m *memTips) Commit(_ context.Context, s Submission) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.fail) > 0 {
		err := m.fail[0]
		m.fail = m.fail[1:]
		if err != nil {
			return err
		}
	}
	for _, c := range m.committed { // the unique key on the source, as in Postgres
		if c.Channel == s.Channel && c.SourceMessageID == s.SourceMessageID {
			return ErrDuplicate
		}
	}
	m.committed = append(m.committed, s)
	return nil
}

func (m *memTips) Status(_ context.Context, ref flows.Reference, owners []string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	for _, c := range m.committed {
		if c.Report.Reference == ref && slices.Contains(owners, c.Sender) {
			return "forwarded", nil
		}
	}
	return "", ErrNotFound
}

func (m *memTips) OpenThread(context.Context, string) (flows.Reference, error) {
	return "", ErrNotFound
}

func (m *memTips) AppendReply(context.Context, flows.Reference, string, string, string, string) error {
	return ErrNotFound
}

type fixture struct {
	n        int // messages sent by lookupAs
	runner   *Runner
	sessions *memSessions
	tips     *memTips
	keys     *identity.Keyring
	log      *bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := identity.ParseKeyring(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		sessions: &memSessions{sessions: map[string]flows.Session{}, seen: map[string]bool{}, counts: map[string]int{}},
		tips:     &memTips{},
		keys:     keys,
		log:      &bytes.Buffer{},
	}
	f.runner = NewRunner(flows.New(cat, flows.Options{}), f.sessions, f.tips, keys, slog.New(slog.NewTextHandler(f.log, nil)))
	return f
}

func (f *fixture) say(t *testing.T, id, text, choice string) ([]flows.Reply, error) {
	t.Helper()
	out, err := f.runner.Handle(context.Background(), Message{
		Channel: ChannelTelegram, Sender: "pseudo", Handle: "555000111", MessageID: id, Text: text, Choice: choice,
	})
	return out.Replies, err
}

// toSummary walks a report up to its summary.
func (f *fixture) toSummary(t *testing.T) {
	t.Helper()
	steps := [][2]string{{"/baotin", ""}, {"", "skip"}, {"Có người bị giữ hộ chiếu", ""}, {"", "next"}}
	for range 8 { // where, when, people, child, danger, media, contact, follow-up
		steps = append(steps, [2]string{"", "skip"})
	}
	for i, step := range steps {
		if _, err := f.say(t, string(rune('a'+i)), step[0], step[1]); err != nil {
			t.Fatal(err)
		}
	}
}

// A wipe after a cry for help files the cry; if Postgres fails then, the
// wipe still happens (hiding the chat never waits on Postgres), and the cry
// stays in the conversation for the silence filing.
func TestWipeGoesOnWhenFilingFails(t *testing.T) {
	f := newFixture(t)
	if _, err := f.say(t, "cry", "cuu toi, ho nhot toi", ""); err != nil {
		t.Fatal(err)
	}
	f.tips.fail = []error{errors.New("connection refused")}
	out, err := f.runner.Handle(context.Background(), Message{Channel: ChannelTelegram, Sender: "pseudo", Handle: "555000111",
		MessageID: "wipe", Text: "/xoa"})
	if err != nil || !out.Wipe {
		t.Fatalf("wipe with Postgres failing: wipe=%t err=%v, want the wipe done", out.Wipe, err)
	}
	if len(f.tips.committed) != 0 {
		t.Errorf("committed %d", len(f.tips.committed))
	}
	if s := f.sessions.sessions["pseudo"]; !s.Alarmed() {
		t.Errorf("session after the failed filing = %+v, want the cry kept for the silence filing", s)
	}
	// With Postgres back, the next wipe files it.
	out, err = f.runner.Handle(context.Background(), Message{Channel: ChannelTelegram, Sender: "pseudo", Handle: "555000111",
		MessageID: "wipe-2", Text: "/xoa"})
	if err != nil || !out.Wipe || len(f.tips.committed) != 1 || f.tips.committed[0].Report.Details[flows.WipedKey] != "yes" {
		t.Errorf("second wipe: wipe=%t err=%v committed=%+v", out.Wipe, err, f.tips.committed)
	}
}

// A turn that failed because its time ran out (Postgres hung until the
// webhook's deadline) still frees the sender's lock: left to run out, it
// held the provider's retry, and every next message, for up to 30 s.
func TestLockFreedWhenTheTurnsTimeRanOut(t *testing.T) {
	f := newFixture(t)
	f.toSummary(t)
	f.tips.fail = []error{context.DeadlineExceeded}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the deadline passed while the commit waited
	_, err := f.runner.Handle(ctx, Message{Channel: ChannelTelegram, Sender: "pseudo", Handle: "555000111",
		MessageID: "send-1", Choice: "send"})
	if err == nil {
		t.Fatal("a failed commit returned no error")
	}
	if f.sessions.released != 1 {
		t.Errorf("released=%d after the turn's time ran out, want the lock freed", f.sessions.released)
	}
}

func TestCommitFailureAsksToRetryAndKeepsState(t *testing.T) {
	f := newFixture(t)
	f.toSummary(t)
	f.tips.fail = []error{errors.New("connection refused")}
	replies, err := f.say(t, "send-1", "", "send")
	if err == nil {
		t.Fatal("a failed commit returned no error: the webhook would answer 200 and lose the report")
	}
	if len(replies) != 1 || !strings.Contains(replies[0].Text, "113") {
		t.Errorf("replies = %+v, want the busy message with emergency numbers", replies)
	}
	if f.sessions.released != 1 || f.sessions.seen[ChannelTelegram+"send-1"] {
		t.Errorf("released=%d seen=%t: the lock must be released and the message not marked handled",
			f.sessions.released, f.sessions.seen[ChannelTelegram+"send-1"])
	}
	// The provider retries the same message: now it commits.
	if _, err := f.say(t, "send-1", "", "send"); err != nil {
		t.Fatal(err)
	}
	if len(f.tips.committed) != 1 {
		t.Fatalf("committed %d reports, want 1", len(f.tips.committed))
	}
	sub := f.tips.committed[0]
	if !strings.HasPrefix(sub.SourceMessageID, "draft:") || sub.Sender != "pseudo" || sub.Report.Details["what"] != "Có người bị giữ hộ chiếu" {
		t.Errorf("submission = %+v", sub)
	}
	// The handle travels to storage in memory only, where it is sealed
	// under the report's data key (storage's tests check that).
	if sub.Handle != "555000111" {
		t.Errorf("submission handle = %q", sub.Handle)
	}
}

func TestTakenReferenceIsDrawnAgain(t *testing.T) {
	f := newFixture(t)
	f.toSummary(t)
	f.tips.fail = []error{ErrReferenceTaken, ErrReferenceTaken}
	if _, err := f.say(t, "send", "", "send"); err != nil {
		t.Fatal(err)
	}
	if len(f.tips.committed) != 1 {
		t.Fatalf("committed %d, want 1", len(f.tips.committed))
	}
	r := f.tips.committed[0].Report
	if !strings.Contains(r.Ack, string(r.Reference)) {
		t.Errorf("ack %q does not carry the final reference %s", r.Ack, r.Reference)
	}
}

func TestAlreadyCommittedIsNotAnError(t *testing.T) {
	f := newFixture(t)
	f.toSummary(t)
	f.tips.fail = []error{ErrDuplicate}
	if _, err := f.say(t, "send", "", "send"); err != nil {
		t.Fatalf("a report committed before is done, not an error: %v", err)
	}
	if f.sessions.finished != 13 || f.sessions.sessions["pseudo"].Flow != "" {
		t.Errorf("session not finished and cleared: %+v", f.sessions.sessions["pseudo"])
	}
}

func TestReplayedMessageHasNoEffect(t *testing.T) {
	f := newFixture(t)
	if _, err := f.say(t, "1", "/baotin", ""); err != nil {
		t.Fatal(err)
	}
	replies, err := f.say(t, "1", "/baotin", "")
	if err != nil || len(replies) != 0 {
		t.Errorf("replay: %+v, %v; want nothing", replies, err)
	}
}

func TestBusySenderWaits(t *testing.T) {
	f := newFixture(t)
	f.sessions.busy = 3
	replies, err := f.say(t, "1", "/baotin", "")
	if err != nil || len(replies) != 2 || !strings.Contains(replies[1].Text, "việc gì") {
		t.Fatalf("after waiting: %+v, %v (the privacy notice, then the first question)", replies, err)
	}
}

func TestMessageLogsNoContent(t *testing.T) {
	f := newFixture(t)
	f.toSummary(t)
	if _, err := f.say(t, "send", "", "send"); err != nil {
		t.Fatal(err)
	}
	logs := f.log.String()
	if !strings.Contains(logs, "report committed") {
		t.Fatalf("expected a log line for the commit, got:\n%s", logs)
	}
	for _, secret := range []string{"555000111", "hộ chiếu"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
	// No line carries both the code and the sender's pseudonym.
	ref := string(f.tips.committed[0].Report.Reference)
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, ref) && strings.Contains(line, "pseudo") {
			t.Errorf("a log line ties the code to the sender: %s", line)
		}
	}
}

func TestLookupIsForTheSenderOnlyAndRateLimited(t *testing.T) {
	f := newFixture(t)
	f.toSummary(t)
	if _, err := f.say(t, "send", "", "send"); err != nil {
		t.Fatal(err)
	}
	ref := string(f.tips.committed[0].Report.Reference)
	replies, err := f.say(t, "l1", "tra cuu "+strings.ToLower(ref), "")
	if err != nil || len(replies) != 1 || !strings.Contains(replies[0].Text, "đã chuyển") {
		t.Fatalf("owner's lookup = %+v, %v", replies, err)
	}
	// Someone else with the same code is told what an unknown code gets.
	other, err := f.runner.Handle(context.Background(), Message{Channel: ChannelTelegram, Sender: "other", Handle: "1",
		MessageID: "l2", Text: ref})
	unknown, _ := f.say(t, "l3", "TB-0000-0000", "")
	if err != nil || len(other.Replies) != 1 || !strings.Contains(other.Replies[0].Text, "Không tìm thấy") ||
		strings.ReplaceAll(other.Replies[0].Text, ref, "X") != strings.ReplaceAll(unknown[0].Text, "TB-0000-0000", "X") {
		t.Fatalf("someone else's lookup = %+v, %v; unknown = %+v", other.Replies, err, unknown)
	}
	for i := range 3 {
		f.say(t, fmt.Sprint("m", i), ref, "")
	}
	limited, _ := f.say(t, "m9", ref, "")
	if len(limited) != 1 || !strings.Contains(limited[0].Text, "nhiều lần") {
		t.Errorf("sixth lookup = %+v, want the rate-limit answer", limited)
	}
}

// TestResentSubmitAfterAFailedSaveCommitsOnce: the report commits but the
// session cannot be saved, so the person is told to send again; their new
// "send" (a new message ID) finds the report committed and makes no second.
func TestResentSubmitAfterAFailedSaveCommitsOnce(t *testing.T) {
	f := newFixture(t)
	f.toSummary(t)
	f.sessions.failSave = 1
	if _, err := f.say(t, "send-1", "", "send"); err == nil {
		t.Fatal("a failed save after the commit reported no error")
	}
	if _, err := f.say(t, "send-2", "", "send"); err != nil {
		t.Fatal(err)
	}
	if len(f.tips.committed) != 1 {
		t.Fatalf("committed %d reports from one draft, want 1", len(f.tips.committed))
	}
	// The next report is a new draft.
	if _, err := f.say(t, "next-1", "/baotin", ""); err != nil {
		t.Fatal(err)
	}
	next := f.sessions.sessions["pseudo"].Draft
	if next == "" || "draft:"+next == f.tips.committed[0].SourceMessageID {
		t.Errorf("the next report's draft = %q, the first's source = %q", next, f.tips.committed[0].SourceMessageID)
	}
}

// lookupAs looks ref up as sender, from address ("" off the web), on channel.
func (f *fixture) lookupAs(t *testing.T, channel, sender, address, ref string) string {
	t.Helper()
	f.n++
	out, err := f.runner.Handle(context.Background(), Message{Channel: channel, Sender: sender, Handle: "1",
		MessageID: fmt.Sprint("lk", f.n), Text: "tra cuu " + ref, Address: address})
	if err != nil || len(out.Replies) != 1 {
		t.Fatalf("lookup of %s by %s: %+v, %v", ref, sender, out.Replies, err)
	}
	return out.Replies[0].Text
}

// busyText is the answer to a lookup over a limit everyone shares.
const busyText = "nhiều người đang tra cứu"

// Many senders (each within their own limit) cannot share the work of
// guessing one code: past the code's limit every one of them, the owner
// too, gets the calm answer, and the database is not read. Another code is
// not held up.
func TestLookupLimitedPerCodeAcrossSenders(t *testing.T) {
	f := newFixture(t)
	f.runner.Limit(Limits{LookupsPerSender: Rate{5, time.Hour}, LookupsPerAddress: Rate{5, time.Hour},
		LookupsPerCode: Rate{3, time.Hour}, Lookups: Rate{100, time.Minute}})
	f.toSummary(t)
	if _, err := f.say(t, "send", "", "send"); err != nil {
		t.Fatal(err)
	}
	ref := string(f.tips.committed[0].Report.Reference)
	for i := range 3 {
		if got := f.lookupAs(t, ChannelWeb, fmt.Sprint("guesser", i), fmt.Sprint("addr", i), ref); strings.Contains(got, busyText) {
			t.Fatalf("lookup %d refused early: %s", i+1, got)
		}
	}
	reads := f.tips.reads
	owner := f.lookupAs(t, ChannelTelegram, "pseudo", "", ref)
	unknownBusy := f.lookupAs(t, ChannelSMS, "guesser9", "", ref)
	if !strings.Contains(owner, busyText) || owner != unknownBusy || strings.Contains(owner, ref) || f.tips.reads != reads {
		t.Fatalf("past the code's limit: owner %q, another %q, %d reads; want the same calm answer, no read", owner, unknownBusy,
			f.tips.reads-reads)
	}
	if !strings.Contains(owner, "111") || !strings.Contains(owner, "113") {
		t.Errorf("the calm answer lacks where to call: %q", owner)
	}
	if got := f.lookupAs(t, ChannelWeb, "guesser0", "addr0", "TB-0000-0000"); !strings.Contains(got, "Không tìm thấy") {
		t.Errorf("another code was held up by this one's limit: %q", got)
	}
}

// The service's ceiling holds on every channel, whoever asks.
func TestLookupsHaveAGlobalCeiling(t *testing.T) {
	f := newFixture(t)
	f.runner.Limit(Limits{LookupsPerSender: Rate{5, time.Hour}, LookupsPerAddress: Rate{5, time.Hour},
		LookupsPerCode: Rate{5, time.Hour}, Lookups: Rate{4, time.Minute}})
	codes := []string{"TB-0000-0000", "TB-7K3M-Q91B", "TB-2222-222A", "TB-3333-333Z", "TB-4444-444M"}
	for _, c := range codes {
		if _, err := flows.ParseReference(c); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
	}
	for i, ch := range []string{ChannelTelegram, ChannelSMS, ChannelWeb, ChannelTelegram} {
		if got := f.lookupAs(t, ch, fmt.Sprint("s", i), "", codes[i]); strings.Contains(got, busyText) {
			t.Fatalf("lookup %d refused under the ceiling: %s", i+1, got)
		}
	}
	reads := f.tips.reads
	for _, ch := range []string{ChannelSMS, ChannelWeb, ChannelTelegram} {
		if got := f.lookupAs(t, ch, "s-new-"+ch, "", codes[4]); !strings.Contains(got, busyText) {
			t.Errorf("%s lookup over the ceiling answered %q", ch, got)
		}
	}
	if f.tips.reads != reads {
		t.Errorf("%d lookups over the ceiling read the database", f.tips.reads-reads)
	}
}

// On the web a new sender costs nothing, so the client's address is
// counted too: new sessions from one address share its limit, another
// address is not held up.
func TestLookupLimitedPerAddress(t *testing.T) {
	f := newFixture(t)
	f.runner.Limit(Limits{LookupsPerSender: Rate{5, time.Hour}, LookupsPerAddress: Rate{2, time.Hour},
		LookupsPerCode: Rate{50, time.Hour}, Lookups: Rate{100, time.Minute}})
	for i := range 2 {
		if got := f.lookupAs(t, ChannelWeb, fmt.Sprint("session", i), "addrA", "TB-0000-0000"); strings.Contains(got, busyText) {
			t.Fatalf("lookup %d refused early: %s", i+1, got)
		}
	}
	reads := f.tips.reads
	if got := f.lookupAs(t, ChannelWeb, "session-fresh", "addrA", "TB-0000-0000"); !strings.Contains(got, busyText) || f.tips.reads != reads {
		t.Errorf("a third session from the same address: %q (%d reads)", got, f.tips.reads-reads)
	}
	if got := f.lookupAs(t, ChannelWeb, "session-b", "addrB", "TB-0000-0000"); strings.Contains(got, busyText) {
		t.Errorf("another address was held up: %q", got)
	}
}

// A flood from one sender: the first floodLimit messages are answered, the
// next gets one calm notice, then nothing; every message still runs through
// the flow, so the words are kept and a Gửi commits the report.
func TestFloodIsAnsweredOnceAndLosesNothing(t *testing.T) {
	f := newFixture(t)
	f.runner.now = func() time.Time { return time.Date(2025, 11, 27, 10, 0, 0, 0, time.UTC) } // a burst: no idle pause
	answered := 0
	say := func(id, text, choice string) []flows.Reply {
		t.Helper()
		replies, err := f.say(t, id, text, choice)
		if err != nil {
			t.Fatalf("message %s: %v", id, err)
		}
		if len(replies) > 0 {
			answered++
		}
		return replies
	}
	say("r0", "/baotin", "")
	say("r1", "", "skip")
	say("r2", "Có người rủ em tôi đi làm xa", "")
	for i := range floodLimit - 3 { // the story, in many quick messages
		say(fmt.Sprint("s", i), fmt.Sprint("chi tiết ", i), "")
	}
	notice := say("over", "thêm nữa", "")
	if len(notice) != 1 || !strings.Contains(notice[0].Text, "nhắn rất nhanh") {
		t.Fatalf("first message over the cap = %+v, want the flood notice alone", notice)
	}
	for i := range 50 {
		if got := say(fmt.Sprint("x", i), "spam spam", ""); len(got) != 0 {
			t.Fatalf("message %d over the cap answered: %+v", i, got)
		}
	}
	// Danger words still raise the alarm (once), and are kept.
	if got := say("cry", "cứu tôi, họ không cho về", ""); len(got) == 0 || !strings.Contains(got[0].Text, "113") {
		t.Errorf("a cry for help over the cap = %+v, want the emergency numbers", got)
	}
	if got := say("cry2", "cứu tôi", ""); len(got) != 0 {
		t.Errorf("a second cry over the cap = %+v, want silence", got)
	}
	say("next", "", "next")
	for i := range 8 {
		say(fmt.Sprint("k", i), "", "skip")
	}
	if got := say("send", "", "send"); len(got) != 0 {
		t.Errorf("the Gửi over the cap = %+v; its acknowledgement goes through the outbox", got)
	}
	if len(f.tips.committed) != 1 {
		t.Fatalf("committed %d reports, want the flooder's report", len(f.tips.committed))
	}
	r := f.tips.committed[0].Report
	if !r.Urgent || !strings.Contains(r.Details["what"], "chi tiết 26") || !strings.Contains(r.Details["what"], "spam spam") {
		t.Errorf("report = urgent %t, what %q: the words and the alarm must be kept", r.Urgent, r.Details["what"])
	}
	if len(r.Distress) == 0 || r.Distress[0].Text != "cứu tôi, họ không cho về" {
		t.Errorf("distress = %+v", r.Distress)
	}
	if answered > floodLimit+2 {
		t.Errorf("%d messages answered, want at most %d", answered, floodLimit+2)
	}
	// Only the turns answered once the sender wrote fast count against the
	// channel's cap.
	if f.sessions.turns == 0 || f.sessions.turns >= answered {
		t.Errorf("turns counted %d, answered %d: want the fast ones only", f.sessions.turns, answered)
	}
}

// Over a channel's cap a turn is not answered, but a message with danger
// words still gets the emergency numbers; the web chat has no cap.
func TestChannelCapHoldsAnswersButNotTheNumbers(t *testing.T) {
	f := newFixture(t)
	f.sessions.turnsOn = map[string]int{ChannelTelegram: channelTurns[ChannelTelegram]}
	// A person at a normal pace is answered whatever the channel carries.
	f.sessions.recent = map[string]int{"calm": 2}
	calm, err := f.runner.Handle(context.Background(), Message{Channel: ChannelTelegram, Sender: "calm", MessageID: "c1", Text: "/baotin"})
	if err != nil || len(calm.Replies) == 0 {
		t.Errorf("a calm sender over the channel's cap = %+v, %v; want answered", calm.Replies, err)
	}
	// A sender already writing fast is held back.
	f.sessions.recent["pseudo"] = brisk
	if replies, err := f.say(t, "1", "/baotin", ""); err != nil || len(replies) != 0 {
		t.Errorf("a brisk sender over the channel's cap = %+v, %v; want no answer", replies, err)
	}
	if f.sessions.sessions["pseudo"].Flow != "report" {
		t.Errorf("the message was not run: %+v", f.sessions.sessions["pseudo"])
	}
	if replies, _ := f.say(t, "2", "cứu tôi", ""); len(replies) == 0 || !strings.Contains(replies[0].Text, "113") {
		t.Errorf("danger words over the channel's cap = %+v", replies)
	}
	web, err := f.runner.Handle(context.Background(), Message{Channel: ChannelWeb, Sender: "w", MessageID: "w1", Text: "/baotin"})
	if err != nil || len(web.Replies) == 0 {
		t.Errorf("web chat = %+v, %v; want answered", web.Replies, err)
	}
}

// memData records data requests for codes it knows, made by their senders.
type memData struct {
	known    map[flows.Reference]string // code → its sender
	recorded []DataRequest
	fail     error
}

func (m *memData) Record(_ context.Context, r DataRequest) (*flows.Holding, error) {
	if m.fail != nil {
		return nil, m.fail
	}
	if m.known[r.Reference] != r.Sender {
		return nil, ErrNotFound
	}
	m.recorded = append(m.recorded, r)
	if r.Kind == flows.DataAccess {
		return &flows.Holding{Classes: []string{"story"}, Status: "new"}, nil
	}
	return nil, nil
}

// A request about an unknown code gets word for word the answer a recorded
// one gets, and is recorded nowhere; requests count against the lookup
// limit; a failing store says nothing and asks the provider to retry; no
// log line holds both the code and the sender.
func TestDataRequestSameAnswerForUnknownCodes(t *testing.T) {
	f := newFixture(t)
	known := flows.NewReference([]byte{1, 2, 3, 4, 5, 6, 7})
	unknown := flows.NewReference([]byte{7, 6, 5, 4, 3, 2, 1})
	data := &memData{known: map[flows.Reference]string{known: "pseudo"}}
	f.runner.RecordDataRequests(data)
	erase := func(id string, ref flows.Reference) string {
		f.say(t, id+"a", "DU LIEU "+string(ref), "")
		f.say(t, id+"b", "", "d:erase")
		replies, err := f.say(t, id+"c", "", "d:erase!")
		if err != nil || len(replies) != 1 {
			t.Fatalf("erasure of %s: %v %v", ref, replies, err)
		}
		return strings.ReplaceAll(replies[0].Text, string(ref), "CODE")
	}
	if a, b := erase("k", known), erase("u", unknown); a != b {
		t.Errorf("known code answered %q, unknown %q", a, b)
	}
	if len(data.recorded) != 1 || data.recorded[0].Kind != flows.DataErasure || data.recorded[0].Reference != known {
		t.Errorf("recorded = %+v", data.recorded)
	}
	if h, err := f.keys.Open(ChannelTelegram, "pseudo", data.recorded[0].Sealed); err != nil || h != "555000111" {
		t.Errorf("the requester's handle is not sealed by the master key: %q %v", h, err)
	}
	for _, line := range strings.Split(f.log.String(), "\n") {
		if strings.Contains(line, string(known)) && strings.Contains(line, "pseudo") {
			t.Errorf("a log line ties the code to the sender: %s", line)
		}
	}
	data.fail = errors.New("postgres down")
	f.say(t, "f1", "/dulieu "+string(known), "")
	if _, err := f.say(t, "f2", "", "d:stopmsg"); err == nil {
		t.Error("a failed recording did not ask for a retry")
	}
	data.fail = nil
	var last []flows.Reply
	for i := range 5 {
		f.say(t, fmt.Sprint("l", i), "/dulieu "+string(known), "")
		last, _ = f.say(t, fmt.Sprint("m", i), "", "d:see")
	}
	if len(last) != 1 || !strings.Contains(last[0].Text, "nhiều lần") {
		t.Errorf("after too many requests: %+v", last)
	}
}

// An SMS "dung" with no request under way asks for no more messages. If
// recording that fails, the message is not counted as handled: the
// provider's retry records it, rather than being dropped as a replay while
// the person keeps getting texts they asked to stop.
func TestOptOutFailureIsRetried(t *testing.T) {
	f := newFixture(t)
	var fails, recorded int
	var notice []flows.Reply
	f.runner.OptOutWith(ChannelSMS, func(_ context.Context, m Message, _ string, n []flows.Reply) error {
		if fails > 0 {
			fails--
			return errors.New("connection refused")
		}
		if m.Sender == "pseudo" {
			recorded++
			notice = n
		}
		return nil
	})
	dung := func() error {
		out, err := f.runner.Handle(context.Background(), Message{
			Channel: ChannelSMS, Sender: "pseudo", Handle: "smsgate:+84900000000", MessageID: "sms-dung", Text: "dung",
		})
		if err == nil && len(out.Replies) > 0 {
			t.Errorf("replies beside the opt-out: %+v; the notice goes with it, once", out.Replies)
		}
		return err
	}
	fails = 1
	if err := dung(); err == nil {
		t.Fatal("a failed opt-out returned no error: the webhook would answer 200 and lose it")
	}
	if f.sessions.seen[ChannelSMS+"sms-dung"] || recorded != 0 {
		t.Fatalf("after the failure: handled=%t recorded=%d", f.sessions.seen[ChannelSMS+"sms-dung"], recorded)
	}
	if err := dung(); err != nil || recorded != 1 {
		t.Fatalf("the retry: %v, recorded %d times, want once", err, recorded)
	}
	// "dung" may have meant "đúng": the one text that still goes says
	// the messages stop and how to undo it.
	if len(notice) != 1 || !strings.Contains(notice[0].Text, "BAT DAU") {
		t.Errorf("notice = %+v, want one text saying how to start again", notice)
	}
	// Mid-request, too, it stops the messages (the contract's word), and
	// the request under way is kept for BAT DAU.
	if _, err := f.runner.Handle(context.Background(), Message{Channel: ChannelSMS, Sender: "pseudo", Handle: "smsgate:+84900000000",
		MessageID: "sms-giup", Text: "GIUP"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.runner.Handle(context.Background(), Message{Channel: ChannelSMS, Sender: "pseudo", Handle: "smsgate:+84900000000",
		MessageID: "sms-dung-2", Text: "dung"}); err != nil || recorded != 2 {
		t.Errorf("dung at a yes-or-no question: %v, opt-outs recorded %d, want 2", err, recorded)
	}
	if len(notice) != 1 || !strings.Contains(notice[0].Text, "tra loi tiep") {
		t.Errorf("notice mid-request = %+v, want one text saying how to go on", notice)
	}
}
