package bot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	released int
	finished int
}

func (m *memSessions) Begin(_ context.Context, channel, id, sender, _ string) (flows.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[channel+id] {
		return flows.Session{}, ErrDuplicate
	}
	if m.busy > 0 {
		m.busy--
		return flows.Session{}, ErrBusy
	}
	return m.sessions[sender], nil
}

func (m *memSessions) Finish(_ context.Context, channel, id, sender, _ string, s flows.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions[sender] = s
	m.seen[channel+id] = true
	m.finished++
	return nil
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

func (m *memSessions) Release(context.Context, string, string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.released++
	return nil
}

type memTips struct {
	mu        sync.Mutex
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
	m.committed = append(m.committed, s)
	return nil
}

func (m *memTips) Status(_ context.Context, ref flows.Reference, sender string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.committed {
		if c.Report.Reference == ref && c.Sender == sender {
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
	if sub.SourceMessageID != "send-1" || sub.Sender != "pseudo" || sub.Report.Details["what"] != "Có người bị giữ hộ chiếu" {
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
