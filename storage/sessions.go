package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"tinbao/flows"
)

// ErrBusy means another message from the same sender is being handled; the
// caller waits and tries again.
var ErrBusy = errors.New("storage: sender busy")

// Sessions keeps conversations in Redis: each sender's session with an idle
// TTL, a per-sender lock so one sender's messages are handled one at a time,
// and the set of provider message IDs already handled.
type Sessions struct {
	rdb     redis.UniversalClient
	prefix  string
	idle    time.Duration
	seenTTL time.Duration
	lockTTL time.Duration
}

// NewSessions uses keys under prefix (tests give each test its own). idle is
// how long a quiet conversation is kept.
func NewSessions(rdb redis.UniversalClient, prefix string, idle time.Duration) *Sessions {
	// The lock outlives any handler's deadline (20 s) by far, so it cannot
	// expire under a message still being handled.
	return &Sessions{rdb: rdb, prefix: prefix, idle: idle, seenTTL: 48 * time.Hour, lockTTL: time.Minute}
}

// Keys share the sender's hash tag so one script touches one cluster slot.
func (s *Sessions) keys(channel, messageID, sender string) []string {
	tag := "{" + sender + "}"
	return []string{
		s.prefix + "seen:" + tag + ":" + channel + ":" + messageID,
		s.prefix + "lock:" + tag,
		s.prefix + "sess:" + tag,
		s.prefix + "flood:" + tag,
	}
}

// FloodWindow is the window in which Begin counts a sender's messages: a
// fixed window, started by the first message.
const FloodWindow = time.Minute

// turnsKey counts the turns answered on a channel in one second, across
// every sender and replica. It has a tag of its own (another slot), so it
// travels beside the sender's script in the same pipeline, not inside it.
func (s *Sessions) turnsKey(channel string, at time.Time) string {
	return s.prefix + "turns:{" + channel + "}:" + strconv.FormatInt(at.Unix(), 10)
}

// beginScript: already handled → {1}; locked by another message → {2};
// otherwise take the lock, count the message in the sender's flood window
// and return {0, session, count}. Counting only once the lock is taken: a
// caller waiting for the lock asks again, and must not count twice.
var beginScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {1, false, 0} end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2, false, 0} end
local n = redis.call('INCR', KEYS[4])
if n == 1 then redis.call('PEXPIRE', KEYS[4], ARGV[3]) end
return {0, redis.call('GET', KEYS[3]), n}
`)

// Begun is what Begin read in its one round trip: the session, and the two
// counts that cap a flood.
type Begun struct {
	Session flows.Session
	// Recent counts the sender's messages in the current FloodWindow, this
	// one included (0 for a duplicate or a busy sender).
	Recent int
	// Turns counts the turns already answered on the channel in the current
	// second, across every sender and replica.
	Turns int
}

// Begin starts handling one message: it returns ErrDuplicate if the message
// was handled before, ErrBusy if the sender's lock is held, and otherwise the
// sender's session (zero if none) with the lock taken under token. In the
// same round trip it counts the message in the sender's flood window and
// reads how many turns the channel answered this second.
func (s *Sessions) Begin(ctx context.Context, channel, messageID, sender, token string) (Begun, error) {
	var script *redis.Cmd
	var turns *redis.StringCmd
	keys := s.keys(channel, messageID, sender)
	args := []any{token, s.lockTTL.Milliseconds(), FloodWindow.Milliseconds()}
	_, err := pipelineScript(ctx, s.rdb, beginScript, func(p redis.Pipeliner, eval scriptFunc) {
		script = eval(p, keys, args...)
		turns = p.Get(ctx, s.turnsKey(channel, time.Now()))
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Begun{}, fmt.Errorf("begin session: %w", err)
	}
	res, err := script.Slice()
	if err != nil {
		return Begun{}, fmt.Errorf("begin session: %w", err)
	}
	switch code, _ := res[0].(int64); code {
	case 1:
		return Begun{}, ErrDuplicate
	case 2:
		return Begun{}, ErrBusy
	}
	b := Begun{}
	if n, ok := res[2].(int64); ok {
		b.Recent = int(n)
	}
	if n, err := turns.Int(); err == nil {
		b.Turns = n
	}
	if raw, ok := res[1].(string); ok && raw != "" {
		if err := json.Unmarshal([]byte(raw), &b.Session); err != nil {
			// A session we cannot read is dropped, not fatal: the person
			// starts again rather than being stuck.
			b.Session = flows.Session{}
		}
	}
	return b, nil
}

type scriptFunc func(p redis.Pipeliner, keys []string, args ...any) *redis.Cmd

// pipelineScript runs a script beside other commands in one round trip. It
// sends the script's hash; only when Redis does not know it (after a
// restart) does it send the pipeline again with the script's text.
func pipelineScript(ctx context.Context, rdb redis.UniversalClient, sc *redis.Script, fill func(redis.Pipeliner, scriptFunc)) ([]redis.Cmder, error) {
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		fill(p, func(p redis.Pipeliner, keys []string, args ...any) *redis.Cmd {
			return sc.EvalSha(ctx, p, keys, args...)
		})
		return nil
	})
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		cmds, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			fill(p, func(p redis.Pipeliner, keys []string, args ...any) *redis.Cmd { return sc.Eval(ctx, p, keys, args...) })
			return nil
		})
	}
	return cmds, err
}

// finishScript saves only while the caller still holds the lock: a
// session written by a caller whose lock ran out could undo a newer one.
var finishScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[3])
redis.call('SET', KEYS[1], '1', 'EX', ARGV[4])
redis.call('DEL', KEYS[2])
return 1
`)

// ErrLockLost means the sender's lock ran out before Finish: nothing was
// saved, and the message is not marked handled.
var ErrLockLost = errors.New("storage: sender lock lost")

// Finish saves the session, marks the message handled and releases the lock,
// in one round trip. Call it only once the message's effects are durable.
// answered counts the turn against the channel's replies this second (in
// the same round trip).
func (s *Sessions) Finish(ctx context.Context, channel, messageID, sender, token string, sess flows.Session, answered bool) error {
	raw, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("finish session: %w", err)
	}
	var script *redis.Cmd
	_, err = pipelineScript(ctx, s.rdb, finishScript, func(p redis.Pipeliner, eval scriptFunc) {
		script = eval(p, s.keys(channel, messageID, sender), token, raw, int64(s.idle.Seconds()), int64(s.seenTTL.Seconds()))
		if answered {
			key := s.turnsKey(channel, time.Now())
			p.Incr(ctx, key)
			p.Expire(ctx, key, 2*time.Second)
		}
	})
	if err != nil {
		return fmt.Errorf("finish session: %w", err)
	}
	held, err := script.Int()
	if err != nil {
		return fmt.Errorf("finish session: %w", err)
	}
	if held == 0 {
		return ErrLockLost
	}
	return nil
}

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Release drops the sender's lock without saving anything, after a failure,
// so the provider's retry is handled from the same state.
func (s *Sessions) Release(ctx context.Context, sender, token string) error {
	if err := releaseScript.Run(ctx, s.rdb, []string{s.keys("", "", sender)[1]}, token).Err(); err != nil {
		return fmt.Errorf("release session: %w", err)
	}
	return nil
}

// Forget deletes a sender's session (the web chat's quick exit).
func (s *Sessions) Forget(ctx context.Context, sender string) error {
	if err := s.rdb.Del(ctx, s.keys("", "", sender)[2]).Err(); err != nil {
		return fmt.Errorf("forget session: %w", err)
	}
	return nil
}

var allowScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`)

// Allow counts one event under key and reports whether at most limit
// happened in the current window (a fixed window, started by the first).
func (s *Sessions) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, error) {
	n, err := allowScript.Run(ctx, s.rdb, []string{s.prefix + "rate:" + key}, window.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("rate limit: %w", err)
	}
	return n <= limit, nil
}

// Limit is one counter of AllowEach: at most N events under Key per window.
type Limit struct {
	Key    string
	N      int
	Window time.Duration
}

// allowEachScript counts under each key in turn and stops at the first that
// is over its limit, so an event refused early (one sender's, one address's)
// uses up nothing of the later, shared counters (one code's, the whole
// service's): one noisy client cannot spend everyone's budget. It returns the
// refusing key's position (1-based), or 0.
var allowEachScript = redis.NewScript(`
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, ARGV[2*i]) end
  if n > tonumber(ARGV[2*i-1]) then return i end
end
return 0
`)

// AllowEach counts one event under each limit, in order, in one round trip,
// and returns the index of the first limit that refused it, or -1. Its keys
// share one hash tag: one script may touch only one cluster slot.
func (s *Sessions) AllowEach(ctx context.Context, limits []Limit) (int, error) {
	if len(limits) == 0 {
		return -1, nil
	}
	keys := make([]string, len(limits))
	args := make([]any, 0, 2*len(limits))
	for i, l := range limits {
		keys[i] = s.prefix + "rate:{limits}:" + l.Key
		args = append(args, l.N, l.Window.Milliseconds())
	}
	n, err := allowEachScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return -1, fmt.Errorf("rate limits: %w", err)
	}
	return n - 1, nil
}

// trackTTL matches how long Telegram lets a bot delete messages.
const trackTTL = 48 * time.Hour

// TrackMessages remembers message IDs of a sender's chat, so that a wipe can
// delete them while the channel still allows it.
func (s *Sessions) TrackMessages(ctx context.Context, sender string, ids ...int) error {
	if len(ids) == 0 {
		return nil
	}
	key := s.prefix + "msgs:{" + sender + "}"
	vals := make([]any, len(ids))
	for i, id := range ids {
		vals[i] = id
	}
	// One round trip; a plain pipeline is enough (EXPIRE after RPUSH).
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, key, vals...)
		p.Expire(ctx, key, trackTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("track messages: %w", err)
	}
	return nil
}

// TakeTrackedMessages returns and forgets the tracked message IDs.
func (s *Sessions) TakeTrackedMessages(ctx context.Context, sender string) ([]int, error) {
	key := s.prefix + "msgs:{" + sender + "}"
	var lr *redis.StringSliceCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		lr = p.LRange(ctx, key, 0, -1)
		p.Del(ctx, key)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("take tracked messages: %w", err)
	}
	seen := map[int]bool{}
	var ids []int
	for _, v := range lr.Val() {
		var id int
		if _, err := fmt.Sscan(v, &id); err == nil && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// inboxTTL bounds how long an undelivered web chat message waits for its page.
const inboxTTL = 24 * time.Hour

// PushInbox queues a message for a web chat sender's page and returns its
// position as a provider ID.
func (s *Sessions) PushInbox(ctx context.Context, sender, text string) (string, error) {
	key := s.prefix + "inbox:{" + sender + "}"
	var n *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		n = p.RPush(ctx, key, text)
		p.Expire(ctx, key, inboxTTL)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("push inbox: %w", err)
	}
	return fmt.Sprintf("web-%d", n.Val()), nil
}

// TakeInbox returns and removes the messages waiting for a web chat page.
func (s *Sessions) TakeInbox(ctx context.Context, sender string) ([]string, error) {
	return s.ReadInbox(ctx, sender, -1)
}

// ReadInbox drops the first shown messages, which the page says it has
// displayed, and returns the rest without removing them: a poll whose
// answer is lost on a weak connection is answered again. shown < 0 takes
// everything.
func (s *Sessions) ReadInbox(ctx context.Context, sender string, shown int) ([]string, error) {
	key := s.prefix + "inbox:{" + sender + "}"
	var lr *redis.StringSliceCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		switch {
		case shown < 0:
			lr = p.LRange(ctx, key, 0, -1)
			p.Del(ctx, key)
		default:
			if shown > 0 {
				p.LTrim(ctx, key, int64(shown), -1)
			}
			lr = p.LRange(ctx, key, 0, -1)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read inbox: %w", err)
	}
	return lr.Val(), nil
}
