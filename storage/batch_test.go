package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tinbao/flows"
	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// slowPipelines makes every pipeline take a while, as a busy Redis does, and
// counts them and the commands they carry.
type slowPipelines struct {
	trips, cmds atomic.Int64
}

func (h *slowPipelines) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *slowPipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *slowPipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.trips.Add(1)
		h.cmds.Add(int64(len(cmds)))
		time.Sleep(5 * time.Millisecond)
		return next(ctx, cmds)
	}
}

// Messages of many senders handled at once share round trips, and each
// still gets exactly its own answer: its own session, its own duplicate, its
// own failure.
func TestMessagesAtOnceShareRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	s := storage.NewSessions(rdb, prefix, 30*time.Minute)
	const senders = 40
	for i := range senders { // each sender with a session of their own
		who := fmt.Sprint("s", i)
		if _, err := s.Begin(ctx, "telegram", "1", who, "t0"); err != nil {
			t.Fatal(err)
		}
		sess := flows.Session{Flow: "report", Step: "where", Answers: map[string]string{"what": who}}
		if _, err := s.Finish(ctx, "telegram", "1", who, "t0", sess, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	// One sender's record is something a script cannot read: only their
	// message fails.
	rdb.Del(ctx, s.RecordKey("s7"))
	rdb.HSet(ctx, s.RecordKey("s7"), "x", "y")

	hook := &slowPipelines{}
	rdb.AddHook(hook)
	type result struct {
		b   storage.Begun
		err error
	}
	results := make([]result, senders)
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() {
			who := fmt.Sprint("s", i)
			id := "2"
			if i%5 == 0 {
				id = "1" // a replay of the message already handled
			}
			b, err := s.Begin(ctx, "telegram", id, who, "t1")
			results[i] = result{b, err}
		})
	}
	wg.Wait()
	for i, r := range results {
		switch {
		case i == 7:
			if r.err == nil || errors.Is(r.err, storage.ErrDuplicate) {
				t.Errorf("sender 7, unreadable record: %v, want its own error", r.err)
			}
		case i%5 == 0:
			if !errors.Is(r.err, storage.ErrDuplicate) {
				t.Errorf("sender %d, replay: %+v %v, want ErrDuplicate", i, r.b, r.err)
			}
		default:
			if r.err != nil || r.b.Session.Answers["what"] != fmt.Sprint("s", i) || r.b.Recent != 2 {
				t.Errorf("sender %d: %+v %v, want their own session, second message", i, r.b, r.err)
			}
		}
	}
	trips := hook.trips.Load()
	t.Logf("%d Begins in %d round trips (%d commands)", senders, trips, hook.cmds.Load())
	if trips >= senders/2 {
		t.Errorf("%d Begins at once took %d round trips: none were shared", senders, trips)
	}
	// Each lock is its own: a second message of sender 1 waits, sender 1's
	// first can finish.
	if _, err := s.Begin(ctx, "telegram", "3", "s1", "t2"); !errors.Is(err, storage.ErrBusy) {
		t.Errorf("second message while the first is handled: %v, want ErrBusy", err)
	}
	if _, err := s.Finish(ctx, "telegram", "2", "s1", "t1", flows.Session{}, false, 0); err != nil {
		t.Errorf("finish: %v", err)
	}
}

// A message whose caller gave up before its round trip went does nothing:
// no lock is left behind for the provider's retry to wait on.
func TestGivenUpMessageIsNotSent(t *testing.T) {
	t.Parallel()
	rdb, prefix := storagetest.Redis(t)
	s := storage.NewSessions(rdb, prefix, 30*time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Begin(ctx, "telegram", "1", "alice", "t1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Begin on a cancelled context: %v", err)
	}
	if n := rdb.Exists(context.Background(), s.RecordKey("alice")).Val(); n != 0 {
		t.Errorf("a record was written for a message given up")
	}
	if _, err := s.Begin(context.Background(), "telegram", "1", "alice", "t2"); err != nil {
		t.Errorf("the retry: %v", err)
	}
}

// A caller who gives up while its message waits behind two round trips
// under way gets its error at once, and nothing is done in its name.
func TestGiveUpWhileWaiting(t *testing.T) {
	t.Parallel()
	rdb, prefix := storagetest.Redis(t)
	s := storage.NewSessions(rdb, prefix, 30*time.Minute)
	s.Begin(context.Background(), "telegram", "0", "warm", "t") // scripts known
	rdb.AddHook(&stall{d: 300 * time.Millisecond})
	var wg sync.WaitGroup
	for _, who := range []string{"a", "b"} { // the two round trips under way
		wg.Go(func() { s.Begin(context.Background(), "telegram", "1", who, "t") })
	}
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Begin(ctx, "telegram", "1", "c", "t")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 200*time.Millisecond {
		t.Errorf("gave up after %s: %v, want its deadline's error at once", time.Since(start), err)
	}
	wg.Wait()
	if n := rdb.Exists(context.Background(), s.RecordKey("c")).Val(); n != 0 {
		t.Errorf("a record was written for a message given up")
	}
}

// stall makes every pipeline take d, and panics in the next one when
// panics is set.
type stall struct {
	d      time.Duration
	panics atomic.Int64
}

func (h *stall) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *stall) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *stall) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.panics.Add(-1) >= 0 {
			panic("hook")
		}
		time.Sleep(h.d)
		return next(ctx, cmds)
	}
}

// A panic inside a round trip reaches its caller, and does not take the
// lead with it: after two, messages still go.
func TestPanicInRoundTripKeepsTheLead(t *testing.T) {
	t.Parallel()
	rdb, prefix := storagetest.Redis(t)
	s := storage.NewSessions(rdb, prefix, 30*time.Minute)
	h := &stall{}
	h.panics.Store(2)
	rdb.AddHook(h)
	for i := range 2 {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("round trip %d: no panic", i)
				}
			}()
			s.Begin(context.Background(), "telegram", fmt.Sprint(i), "p", "t")
		}()
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Begin(context.Background(), "telegram", "9", "q", "t")
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after the panics: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("after two panics no message goes: the lead was lost")
	}
}

// go-redis sends a pipeline again after a network error: a Begin or Finish
// that already went through answers as it did the first time.
func TestBeginAndFinishSentTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(t)
	s := storage.NewSessions(rdb, prefix, 30*time.Minute)
	live := flows.Session{Flow: "report", Step: "where"}
	for _, sess := range []flows.Session{live, {Lang: "vi"}} { // kept as a key, then parked
		id := fmt.Sprint(sess.Flow == "")
		b1, err := s.Begin(ctx, "telegram", id, "twice", "tok"+id)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := s.Begin(ctx, "telegram", id, "twice", "tok"+id)
		if err != nil || b2.Recent != b1.Recent {
			t.Errorf("Begin again: %+v, %v; want the first answer (%d), not busy nor counted twice", b2, err, b1.Recent)
		}
		for range 2 {
			if _, err := s.Finish(ctx, "telegram", id, "twice", "tok"+id, sess, false, 0); err != nil {
				t.Errorf("Finish (session %+v): %v", sess, err)
			}
		}
	}
	// Another message's Finish with a stale token still finds no lock.
	if _, err := s.Finish(ctx, "telegram", "x", "twice", "tokx", live, false, 0); !errors.Is(err, storage.ErrLockLost) {
		t.Errorf("Finish without the lock: %v, want ErrLockLost", err)
	}
}
