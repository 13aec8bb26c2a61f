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
