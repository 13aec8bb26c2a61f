package storage

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"tinbao/flows"
)

// ErrBusy means another message from the same sender is being handled; the
// caller waits and tries again.
var ErrBusy = errors.New("storage: sender busy")

// Sessions keeps conversations in Redis. Each sender in a conversation has
// ONE key, a small record (see beginScript): the session, the lock that
// serialises the sender's messages, the flood window's count, the last few
// provider message IDs (to drop replays) and the range of chat message
// positions seen (for a wipe). One key, because each key costs Redis more
// than its content (about 190 bytes for the name, the TTL and the
// bookkeeping).
//
// Once a conversation is over (the session holds only the language, the
// last message's time and the country: parked), even that one key costs
// more than what is left to keep, so the record moves into a shared hash,
// a bucket of its shard and period, as one small field (finishScript):
// Redis keeps a small hash as one compact list, with no per-key cost. The
// sender's next message moves it back (beginScript).
type Sessions struct {
	rdb     redis.UniversalClient
	prefix  string
	idle    time.Duration
	lockTTL time.Duration
	// budgets: channels whose replies spend from a send budget shared
	// with the outbox (SpendRepliesOn), one message per interval.
	budgets map[string]time.Duration
	// shared sends Begin's and Finish's pipelines, in round trips shared
	// with other messages handled at the same moment (batch.go).
	shared *pipelines
}

// SpendRepliesOn makes Finish count a turn's replies on channel against the
// channel's send budget (the outbox's overall pace, under the key channel),
// in Finish's own round trip. Call it before handling messages.
func (s *Sessions) SpendRepliesOn(channel string, interval time.Duration) {
	if s.budgets == nil {
		s.budgets = map[string]time.Duration{}
	}
	s.budgets[channel] = interval
}

// NewSessions uses keys under prefix (tests give each test its own). idle is
// how long a quiet conversation is kept.
func NewSessions(rdb redis.UniversalClient, prefix string, idle time.Duration) *Sessions {
	// The lock outlives any handler's deadline (20 s), so it cannot
	// expire under a message still being handled; it runs out soon after a
	// replica died holding it, and the sender's next retry goes through.
	return &Sessions{rdb: rdb, prefix: prefix, idle: idle, lockTTL: 30 * time.Second, shared: &pipelines{rdb: rdb}}
}

// shards is how many shards the senders are spread over. A shard's hash
// tag is shared by every key a script of its senders touches (one cluster
// slot): their records, thread marks and the buckets their parked records
// move into. 1,024 spreads the slots over any cluster, and keeps each
// bucket under Redis's 128 fields of a compact hash up to about 130,000
// conversations ended per period.
const shards = 1024

// shardTag is the hash tag of sender's shard.
func shardTag(sender string) string {
	h := fnv.New32a()
	h.Write([]byte(sender))
	return "{" + strconv.FormatUint(uint64(h.Sum32()%shards), 36) + "}"
}

// senderKey is the sender's record.
func (s *Sessions) senderKey(sender string) string {
	return s.prefix + "c:" + shardTag(sender) + sender
}

// threadKey marks a sender an officer wrote to (see MarkThread). Begin
// reads it beside its script, not in it, so it keeps the sender's own tag:
// marks set before the shards came are still found.
func (s *Sessions) threadKey(sender string) string { return s.prefix + "thread:{" + sender + "}" }

// parkedKeys are the buckets a parked record of sender may be in, newest
// first: the next period's (a replica whose clock runs ahead may have
// written there), the current one's and the one before, which still holds
// records parked less than a period ago. A period is the record's TTL;
// parkAt is when the current bucket expires: a period after its own ends,
// so every record in it lives at least its TTL.
func (s *Sessions) parkedKeys(sender string, now time.Time) (keys []string, parkAt int64) {
	period := s.ttl()
	k := now.Unix() / period
	tag := shardTag(sender)
	for _, p := range []int64{k + 1, k, k - 1} {
		keys = append(keys, s.prefix+"parked:"+tag+strconv.FormatInt(p, 36))
	}
	return keys, (k + 2) * period
}

// parkedMax is the longest parked field: Redis keeps a hash compact only
// while every value in it is at most hash-max-listpack-value (64 by
// default) bytes, and one longer value would cost every record in the
// bucket. A longer one (a record with a long session) stays a key.
const parkedMax = 64

// FloodWindow is the window in which Begin counts a sender's messages: a
// fixed window, started by the first message.
const FloodWindow = time.Minute

// Dedupe is how many of a sender's last handled message IDs are kept to drop
// replays: a provider retries a message whose answer it did not get, soon,
// and a sender's messages are handled one at a time, so a replay is always
// among the last few.
const Dedupe = 8

// ParkedDedupe is how many of them a parked record keeps (see
// Sessions): a provider replays the message that ended the conversation, or
// one just before it, and four fit in a parked field's 64 bytes.
const ParkedDedupe = 4

// turnsKey counts the turns answered on a channel in one second, across
// every sender and replica. It has a tag of its own (another slot), so it
// travels beside the sender's script in the same pipeline, not inside it.
func (s *Sessions) turnsKey(channel string, at time.Time) string {
	return s.prefix + "turns:{" + channel + "}:" + strconv.FormatInt(at.Unix(), 10)
}

// recordLua reads and writes the sender's record, a MessagePack array:
//
//	1 lock token ('' when free)   2 lock expiry (ms, Redis's clock)
//	3 messages in the flood window 4 the window's start (ms)
//	5 first chat position seen     6 last chat position seen (0: none)
//	7 the last Dedupe message IDs (numbers when they are digits; any other
//	  ID by 5 bytes of its SHA-1, which a new ID matches by chance once in
//	  10^12: SMS and web IDs are 24 to 34 characters)
//	8 the session, JSON ('' none)
//
// A parked record, a field of a bucket named by the sender, is
// {last ParkedDedupe IDs, first, last, count, window start (s), session}:
// the flood window survives the end of a report, so that ending one each
// time does not reset it.
//
// Times come from Redis's own clock (TIME), so replicas with skewed clocks
// agree about a lock.
const recordLua = `
local function load(key)
  local raw = redis.call('GET', key)
  if not raw then return nil end
  return cmsgpack.unpack(raw)
end
local function idkey(id)
  if #id < 16 and string.match(id, '^%d+$') then return tonumber(id) end
  local h = redis.sha1hex(id)
  return string.char(tonumber(h:sub(1, 2), 16), tonumber(h:sub(3, 4), 16), tonumber(h:sub(5, 6), 16),
    tonumber(h:sub(7, 8), 16), tonumber(h:sub(9, 10), 16))
end
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// beginScript: already handled → {1}; locked by another message → {2};
// otherwise take the lock, count the message in the sender's flood window,
// widen the range of chat positions and return
// {0, session, count, first, last, thread}. Counting only once the lock is
// taken: a caller waiting for the lock asks again, and must not count
// twice. A parked record comes back from its bucket first (one older than
// the TTL is dropped: its age is counted from its flood window's start, so
// up to about a minute early). The same Begin sent again (go-redis re-sends
// a pipeline after a network error) finds its own lock and answers as the
// first time. KEYS: the record, the three buckets of parkedKeys. ARGV:
// token, lock ms, window ms, message ID, chat position, TTL s, sender.
var beginScript = redis.NewScript(recordLua + `
local t = now()
local r = load(KEYS[1])
local moved = false
if not r then
  for k = 2, 4 do
    local v = redis.call('HGET', KEYS[k], ARGV[7])
    if v then
      redis.call('HDEL', KEYS[k], ARGV[7])
      local p = cmsgpack.unpack(v)
      if not r and (p[5] + tonumber(ARGV[6])) * 1000 > t then
        r = {'', 0, p[4], p[5] * 1000, p[2], p[3], p[1], p[6]}
        moved = true
      end
    end
  end
end
r = r or {'', 0, 0, 0, 0, 0, {}, ''}
local id = idkey(ARGV[4])
for _, seen in ipairs(r[7]) do
  if seen == id then
    -- out of its bucket, a replayed record is kept as a key
    if moved then redis.call('SET', KEYS[1], cmsgpack.pack(r), 'EX', ARGV[6]) end
    return {1, false, 0, 0, 0, 0}
  end
end
if r[1] == ARGV[1] then return {0, r[8], r[3], r[5], r[6]} end
if r[1] ~= '' and r[2] > t then return {2, false, 0, 0, 0, 0} end
r[1] = ARGV[1]
r[2] = t + tonumber(ARGV[2])
if t >= r[4] + tonumber(ARGV[3]) then r[3] = 0; r[4] = t end
r[3] = r[3] + 1
local pos = tonumber(ARGV[5])
if pos > 0 then
  if r[5] == 0 or pos < r[5] then r[5] = pos end
  if pos > r[6] then r[6] = pos end
end
redis.call('SET', KEYS[1], cmsgpack.pack(r), 'EX', ARGV[6])
return {0, r[8], r[3], r[5], r[6]}
`)

// Begun is what Begin read in its one round trip: the session, the two
// counts that cap a flood, the chat's range and whether an officer wrote.
type Begun struct {
	Session flows.Session
	// Recent counts the sender's messages in the current FloodWindow, this
	// one included (0 for a duplicate or a busy sender).
	Recent int
	// Turns counts the turns already answered on the channel in the current
	// second, across every sender and replica.
	Turns int
	// First and Last are the lowest and highest chat positions seen while
	// the record lived (0 when the channel has none).
	First, Last int64
	// Thread: an officer wrote to this sender within ThreadWindow, so a
	// free message may answer them (Postgres says which report).
	Thread bool
}

// Begin is BeginAt for a message without a position in its chat.
func (s *Sessions) Begin(ctx context.Context, channel, messageID, sender, token string) (Begun, error) {
	return s.BeginAt(ctx, channel, messageID, sender, token, 0)
}

// BeginAt starts handling one message: it returns ErrDuplicate if the
// message was handled before, ErrBusy if the sender's lock is held, and
// otherwise the sender's session (zero if none) with the lock taken under
// token. In the same round trip it counts the message in the sender's flood
// window, widens the chat's range by pos (Telegram's message_id; 0: none),
// says whether an officer wrote, and reads how many turns the channel
// answered this second.
func (s *Sessions) BeginAt(ctx context.Context, channel, messageID, sender, token string, pos int64) (Begun, error) {
	var script *redis.Cmd
	var turns *redis.StringCmd
	var thread *redis.IntCmd
	parked, _ := s.parkedKeys(sender, time.Now())
	keys := append([]string{s.senderKey(sender)}, parked...)
	args := []any{token, s.lockTTL.Milliseconds(), FloodWindow.Milliseconds(), messageID, pos, s.ttl(), sender}
	err := s.shared.do(ctx, func(p redis.Pipeliner, eval scriptFunc) {
		script = eval(p, beginScript, keys, args...)
		turns = p.Get(ctx, s.turnsKey(channel, time.Now()))
		thread = p.Exists(ctx, s.threadKey(sender))
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Begun{}, fmt.Errorf("begin session: %w", err)
	}
	res, err := script.Slice()
	if err != nil || len(res) < 5 {
		return Begun{}, fmt.Errorf("begin session: %v %w", res, err)
	}
	switch code, _ := res[0].(int64); code {
	case 1:
		return Begun{}, ErrDuplicate
	case 2:
		return Begun{}, ErrBusy
	}
	b := Begun{}
	b.Recent = int(asInt(res[2]))
	b.First, b.Last = asInt(res[3]), asInt(res[4])
	b.Thread = thread.Val() == 1
	if n, err := turns.Int(); err == nil {
		b.Turns = n
	}
	if raw, ok := res[1].(string); ok && raw != "" {
		// A session we cannot read is dropped, not fatal: the person
		// starts again rather than being stuck.
		b.Session, _ = decodeSession([]byte(raw))
	}
	return b, nil
}

func asInt(v any) int64 {
	n, _ := v.(int64)
	return n
}

// ttl is how long a quiet sender's record lives, in seconds (at least one).
func (s *Sessions) ttl() int64 { return max(int64(s.idle.Seconds()), 1) }

// scriptFunc queues a script in a pipeline by its hash (see pipelineScripts).
type scriptFunc func(p redis.Pipeliner, sc *redis.Script, keys []string, args ...any) *redis.Cmd

// pipelineScripts runs scripts beside other commands in one round trip,
// each sent by its hash. A script Redis does not know (after a restart or a
// SCRIPT FLUSH) did not run, so only those are sent again, with their text,
// and their answers land in the same commands; the rest of the pipeline
// (a counter's INCR, another script that did run) is never sent twice. It
// returns the commands, and the first command's error, as Pipelined gives
// them.
func pipelineScripts(ctx context.Context, rdb redis.UniversalClient, fill func(redis.Pipeliner, scriptFunc)) ([]redis.Cmder, error) {
	type call struct {
		cmd  *redis.Cmd
		sc   *redis.Script
		keys []string
		args []any
	}
	var calls []call
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		fill(p, func(p redis.Pipeliner, sc *redis.Script, keys []string, args ...any) *redis.Cmd {
			cmd := sc.EvalSha(ctx, p, keys, args...)
			calls = append(calls, call{cmd, sc, keys, args})
			return cmd
		})
		return nil
	})
	if err == nil {
		return cmds, nil
	}
	var again []call
	for _, c := range calls {
		if redis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
			again = append(again, c)
		}
	}
	if len(again) == 0 {
		return cmds, err
	}
	// go-redis sets a failed round trip's error on each of its commands.
	retried := make([]*redis.Cmd, len(again))
	rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range again {
			retried[i] = c.sc.Eval(ctx, p, c.keys, c.args...)
		}
		return nil
	})
	for i, c := range again {
		c.cmd.SetVal(retried[i].Val())
		c.cmd.SetErr(retried[i].Err())
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return cmds, err
		}
	}
	return cmds, nil
}

// finishScript saves only while the caller still holds the lock: a
// session written by a caller whose lock was taken over could undo a newer
// one. It marks the message handled among the last Dedupe and unlocks. A
// parked session moves the record into its bucket when it fits there.
// KEYS: the record, the current bucket. ARGV: token, session, TTL s,
// message ID, parked (1/0), sender, the bucket's expiry (unix s).
var finishScript = redis.NewScript(recordLua + `
local r = load(KEYS[1])
if not r or r[1] ~= ARGV[1] then
  -- The same Finish sent again (go-redis re-sends a pipeline after a
  -- network error) finds its message handled: it went through.
  local ids = r and r[7]
  if not r then
    local v = redis.call('HGET', KEYS[2], ARGV[6])
    ids = v and cmsgpack.unpack(v)[1]
  end
  local id = idkey(ARGV[4])
  for _, seen in ipairs(ids or {}) do
    if seen == id then return 1 end
  end
  return 0
end
r[1] = ''
r[2] = 0
r[8] = ARGV[2]
local ids = r[7]
ids[#ids + 1] = idkey(ARGV[4])
while #ids > ` + strconv.Itoa(Dedupe) + ` do table.remove(ids, 1) end
if ARGV[5] == '1' then
  local last = {}
  for i = math.max(1, #ids - ` + strconv.Itoa(ParkedDedupe-1) + `), #ids do last[#last + 1] = ids[i] end
  local v = cmsgpack.pack({last, r[5], r[6], r[3], math.floor(r[4] / 1000), r[8]})
  if #v <= ` + strconv.Itoa(parkedMax) + ` then
    redis.call('HSET', KEYS[2], ARGV[6], v)
    redis.call('EXPIREAT', KEYS[2], ARGV[7])
    redis.call('DEL', KEYS[1])
    return 1
  end
end
redis.call('SET', KEYS[1], cmsgpack.pack(r), 'EX', ARGV[3])
return 1
`)

// ErrLockLost means the sender's lock was taken over before Finish: nothing
// was saved, and the message is not marked handled.
var ErrLockLost = errors.New("storage: sender lock lost")

// Finish saves the session, marks the message handled and releases the lock,
// in one round trip. Call it only once the message's effects are durable.
// answered counts the turn against the channel's replies this second (in
// the same round trip).
//
// fast counts the turn against the channel's cap; replies (the turn's
// messages) spend from the channel's send budget when it has one, in the
// same round trip, and the returned wait is when the first one's slot
// comes (zero: now).
func (s *Sessions) Finish(ctx context.Context, channel, messageID, sender, token string, sess flows.Session, fast bool,
	replies int) (time.Duration, error) {
	raw, err := encodeSession(sess)
	if err != nil {
		return 0, fmt.Errorf("finish session: %w", err)
	}
	park := "0"
	if parked(sess) {
		park = "1"
	}
	buckets, parkAt := s.parkedKeys(sender, time.Now())
	var script, spend *redis.Cmd
	err = s.shared.do(ctx, func(p redis.Pipeliner, eval scriptFunc) {
		script = eval(p, finishScript, []string{s.senderKey(sender), buckets[1]}, token, raw, s.ttl(), messageID,
			park, sender, parkAt)
		if fast {
			key := s.turnsKey(channel, time.Now())
			p.Incr(ctx, key)
			p.Expire(ctx, key, 2*time.Second)
		}
		if interval, ok := s.budgets[channel]; ok && replies > 0 {
			spend = eval(p, spendScript, s.spendKeys(channel), spendArgs(interval, replies)...)
		}
	})
	if err != nil {
		return 0, fmt.Errorf("finish session: %w", err)
	}
	held, err := script.Int()
	if err != nil {
		return 0, fmt.Errorf("finish session: %w", err)
	}
	if held == 0 {
		return 0, ErrLockLost
	}
	if spend == nil {
		return 0, nil
	}
	wait, err := spend.Int64()
	if err != nil { // the session is saved: a budget not counted is no failure
		return 0, nil
	}
	return time.Duration(wait) * time.Millisecond, nil
}

// releaseScript frees the lock and takes the message back out of the flood
// window's count: it was not handled, and its retry counts it again.
var releaseScript = redis.NewScript(recordLua + `
local r = load(KEYS[1])
if not r or r[1] ~= ARGV[1] then return 0 end
r[1] = ''
r[2] = 0
if r[3] > 0 then r[3] = r[3] - 1 end
redis.call('SET', KEYS[1], cmsgpack.pack(r), 'KEEPTTL')
return 1
`)

// Release drops the sender's lock without saving anything, after a failure,
// so the provider's retry is handled from the same state: the message does
// not count in the flood window either (a message retried through an
// outage would otherwise count once per try, and its sender's answers be
// capped once it is handled).
func (s *Sessions) Release(ctx context.Context, sender, token string) error {
	if err := releaseScript.Run(ctx, s.rdb, []string{s.senderKey(sender)}, token).Err(); err != nil {
		return fmt.Errorf("release session: %w", err)
	}
	return nil
}

// forgetScript drops the session and keeps the rest of the record, a key
// or parked: the lock of a message still being handled, and the IDs that
// make a replay harmless. KEYS: the record, the buckets. ARGV: sender.
var forgetScript = redis.NewScript(recordLua + `
local r = load(KEYS[1])
if r then
  r[8] = ''
  redis.call('SET', KEYS[1], cmsgpack.pack(r), 'KEEPTTL')
end
for k = 2, #KEYS do
  local v = redis.call('HGET', KEYS[k], ARGV[1])
  if v then
    local p = cmsgpack.unpack(v)
    p[6] = ''
    redis.call('HSET', KEYS[k], ARGV[1], cmsgpack.pack(p))
  end
end
return 1
`)

// Forget deletes a sender's session (the web chat's quick exit).
func (s *Sessions) Forget(ctx context.Context, sender string) error {
	buckets, _ := s.parkedKeys(sender, time.Now())
	keys := append([]string{s.senderKey(sender)}, buckets...)
	if err := forgetScript.Run(ctx, s.rdb, keys, sender).Err(); err != nil {
		return fmt.Errorf("forget session: %w", err)
	}
	return nil
}

// MarkThread notes that an officer wrote to sender, for ThreadWindow: Begin
// reads it in its round trip, and only then does the runner ask Postgres
// which report the thread is about. Without the mark, a free message asks
// Postgres nothing.
func (s *Sessions) MarkThread(ctx context.Context, sender string) error {
	if err := s.rdb.Set(ctx, s.threadKey(sender), 1, ThreadWindow).Err(); err != nil {
		return fmt.Errorf("mark thread: %w", err)
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

var forgiveScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 0
`)

// Forgive takes back one event counted by Allow under key: an attempt
// counted before it was known to succeed (a sign-in), so that only
// failures use up the limit.
func (s *Sessions) Forgive(ctx context.Context, key string) error {
	if err := forgiveScript.Run(ctx, s.rdb, []string{s.prefix + "rate:" + key}).Err(); err != nil {
		return fmt.Errorf("forgive: %w", err)
	}
	return nil
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
