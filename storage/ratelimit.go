package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// reserveScript keeps, per key, the earliest time the next send may start
// (a "theoretical arrival time", as in GCRA) on Redis's clock, shared by
// every replica. A caller that can wait up to max reserves the slot and is
// told how long to wait; one that would wait longer reserves nothing.
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, maxwait = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > maxwait then return {0, wait} end
redis.call('SET', KEYS[1], tat + interval, 'PX', tat + interval - now + 1000)
return {1, wait}
`)

// Reserve asks for a send slot under key, one per interval across all
// replicas. It returns how long to wait before sending and whether the slot
// is reserved (false when the wait would exceed maxWait).
func (s *Sessions) Reserve(ctx context.Context, key string, interval, maxWait time.Duration) (time.Duration, bool, error) {
	res, err := reserveScript.Run(ctx, s.rdb, []string{s.prefix + "pace:{" + key + "}"},
		interval.Milliseconds(), maxWait.Milliseconds()).Int64Slice()
	if err != nil {
		return 0, false, fmt.Errorf("reserve %s: %w", key, err)
	}
	return time.Duration(res[1]) * time.Millisecond, res[0] == 1, nil
}

// holdScript pushes the key's next slot past the hold and marks the hold, so
// that sends already waiting for an earlier slot see it too.
var holdScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local d = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if now + d > tat then redis.call('SET', KEYS[1], now + d, 'PX', d + 1000) end
local left = redis.call('PTTL', KEYS[2])
if left < d then redis.call('SET', KEYS[2], '1', 'PX', d) end
return 1
`)

// Hold makes every replica wait at least d before the next send under key:
// a provider said "too many requests, retry after d".
func (s *Sessions) Hold(ctx context.Context, key string, d time.Duration) error {
	// One hash tag: both keys in one slot, as a Redis Cluster requires.
	keys := []string{s.prefix + "pace:{" + key + "}", s.prefix + "hold:{" + key + "}"}
	if err := holdScript.Run(ctx, s.rdb, keys, d.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("hold %s: %w", key, err)
	}
	return nil
}

// Held says how much longer a hold on key lasts (zero: none).
func (s *Sessions) Held(ctx context.Context, key string) (time.Duration, error) {
	d, err := s.rdb.PTTL(ctx, s.prefix+"hold:{"+key+"}").Result()
	if err != nil {
		return 0, fmt.Errorf("held %s: %w", key, err)
	}
	return max(d, 0), nil
}

// One send budget per bot. Telegram allows a bot about 30 messages a second
// in all, and counts every message: the conversational replies sent while
// a person waits, and what the outbox sends (acknowledgements, follow-ups).
// Both draw on the key's slot time (pace:{key}): replies first, the outbox
// next.

// maxReplyDebt bounds how far replies over the budget push the outbox's
// next slot: about the window in which Telegram counts, so that after a
// surge of replies the outbox waits a second at most.
const maxReplyDebt = time.Second

// repliesFlowing is how long after a reply the outbox keeps to its share.
const repliesFlowing = time.Second

// spendScript takes n slots for replies without waiting: the replies go
// now, the person is waiting. Past the budget it runs into debt, up to
// ARGV[3] ms ahead, which the outbox then waits out. It marks replies as
// flowing (KEYS[2]).
var spendScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, n, maxdebt, flowing = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
tat = math.min(tat + n * interval, now + maxdebt)
redis.call('SET', KEYS[1], tat, 'PX', tat - now + 1000)
redis.call('SET', KEYS[2], '1', 'PX', flowing)
return wait
`)

// SpendReplies counts n conversational replies against key's budget (one
// per interval), at once, whatever is left: it never refuses a reply. It
// returns when the first of their slots comes (zero: now), for a caller
// that may wait a moment to smooth a burst.
func (s *Sessions) SpendReplies(ctx context.Context, key string, n int, interval time.Duration) (time.Duration, error) {
	wait, err := spendScript.Run(ctx, s.rdb, s.spendKeys(key), spendArgs(interval, n)...).Int64()
	if err != nil {
		return 0, fmt.Errorf("spend replies %s: %w", key, err)
	}
	return time.Duration(wait) * time.Millisecond, nil
}

// shareScript reserves a slot for the outbox: the budget's next slot
// (KEYS[1], one per ARGV[1] ms), and, while replies are flowing (KEYS[3]),
// also the outbox's own, one per ARGV[2] ms (KEYS[2]), which leaves the
// rest of the budget to replies. Both or neither are taken.
var shareScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, share, maxwait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local own = now
local flowing = redis.call('EXISTS', KEYS[3]) == 1
if flowing then
  own = tonumber(redis.call('GET', KEYS[2]) or '0')
  if own < now then own = now end
end
local at = math.max(tat, own)
local wait = at - now
if wait > maxwait then return {0, wait} end
redis.call('SET', KEYS[1], at + interval, 'PX', at + interval - now + 1000)
if flowing then redis.call('SET', KEYS[2], at + share, 'PX', at + share - now + 1000) end
return {1, wait}
`)

// ReserveShare is Reserve for the outbox on a budget it shares with
// replies: one slot per interval in all, and while replies are flowing at
// most one per share, so that replies keep the rest.
func (s *Sessions) ReserveShare(ctx context.Context, key string, interval, share, maxWait time.Duration) (time.Duration, bool, error) {
	keys := []string{s.prefix + "pace:{" + key + "}", s.prefix + "outbox-pace:{" + key + "}", s.prefix + "replies:{" + key + "}"}
	res, err := shareScript.Run(ctx, s.rdb, keys, ceilMS(interval), ceilMS(share), maxWait.Milliseconds()).Int64Slice()
	if err != nil {
		return 0, false, fmt.Errorf("reserve %s: %w", key, err)
	}
	return time.Duration(res[1]) * time.Millisecond, res[0] == 1, nil
}

// ceilMS rounds a budget's interval up to whole milliseconds (Redis's
// clock here): 1/30 s is 34 ms, never 33, which would be over 30 a second.
func ceilMS(d time.Duration) int64 { return int64((d + time.Millisecond - 1) / time.Millisecond) }

// spendKeys are a budget's keys: its pace (shared with the outbox) and the
// mark that replies are flowing; one hash tag, one slot.
func (s *Sessions) spendKeys(key string) []string {
	return []string{s.prefix + "pace:{" + key + "}", s.prefix + "replies:{" + key + "}"}
}

// spendArgs are spendScript's arguments for n replies at one per interval.
func spendArgs(interval time.Duration, n int) []any {
	return []any{ceilMS(interval), n, maxReplyDebt.Milliseconds(), repliesFlowing.Milliseconds()}
}
