package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Held is a queue per sender for SMS from a provider that never sends a
// webhook again (Twilio): every such SMS is pushed before it is handled, and
// leaves only once handled, so that one that cannot be handled now
// (Postgres away) is handled later, in the order the person wrote. Whoever
// holds a sender's lease (any replica, on the request path or replaying)
// handles the sender's queue from its head; the others leave theirs in it.
// The caller seals each message: Redis never holds a number or words in
// clear.
//
// Keys: the sender's list, lease and set-aside list share the sender's hash
// tag (one cluster slot), so each script below touches one slot; the set
// of senders with a queue is one key of its own, touched by single commands.
type Held struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewHeld keeps queues under prefix.
func NewHeld(rdb redis.UniversalClient, prefix string) *Held {
	return &Held{rdb: rdb, prefix: prefix}
}

// heldTTL bounds how long a queue stays when nothing handles it (every
// replica down for a week), and how long what was set aside stays for
// someone to look at: sealed, but a person's number and words all the same.
const (
	heldTTL     = 7 * 24 * time.Hour
	setAsideTTL = heldTTL
)

// ErrLeaseLost means the sender's lease ran out, or another took it: the
// caller stops, and leaves the queue to the one who has it.
var ErrLeaseLost = errors.New("storage: held queue lease lost")

func (h *Held) listKey(sender string) string  { return h.prefix + "held:{" + sender + "}" }
func (h *Held) leaseKey(sender string) string { return h.prefix + "held-lease:{" + sender + "}" }
func (h *Held) asideKey(sender string) string { return h.prefix + "held-aside:{" + sender + "}" }
func (h *Held) sendersKey() string            { return h.prefix + "held-senders" }

// Push appends a sealed message to sender's queue and returns how many are
// queued with it. The set names the sender only once the list has the
// message (two round trips: in one pipeline a Redis Cluster may run the two
// on their nodes in either order), so that a replica that empties the queue
// meanwhile (Unlease) cannot take the sender out of the set after the
// message went in. A message in the list whose naming failed is still
// handled: by its own request, named again by Unlease, or found by Rescan.
// An error means the message is not in the queue.
func (h *Held) Push(ctx context.Context, sender string, sealed []byte) (int64, error) {
	var n *redis.IntCmd
	_, err := h.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		n = p.RPush(ctx, h.listKey(sender), sealed)
		p.Expire(ctx, h.listKey(sender), heldTTL)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("hold: %w", err)
	}
	h.rdb.SAdd(ctx, h.sendersKey(), sender) // see above: a failure here loses nothing
	return n.Val(), nil
}

// Rescan names every sender with a queue in the set again, from the keys
// themselves (on each master of a cluster): the safety net for a queue
// whose naming was lost (Redis went away between a push and its naming,
// and again before its request let the lease go). It returns how many
// queues it found.
func (h *Held) Rescan(ctx context.Context) (int, error) {
	var mu sync.Mutex
	found := 0
	scan := func(ctx context.Context, c *redis.Client) error {
		pattern := globEscape(h.prefix+"held:{") + "*}"
		iter := c.Scan(ctx, 0, pattern, 500).Iterator()
		for iter.Next(ctx) {
			key := iter.Val()
			sender := strings.TrimSuffix(strings.TrimPrefix(key, h.prefix+"held:{"), "}")
			if err := h.rdb.SAdd(ctx, h.sendersKey(), sender).Err(); err != nil {
				return err
			}
			mu.Lock()
			found++
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	switch c := h.rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	}
	if err != nil {
		return found, fmt.Errorf("held rescan: %w", err)
	}
	return found, nil
}

// leaseScript takes the sender's lease if it is free, or already token's
// (go-redis sends a script again after a read timeout), and returns
// {1, head} (head false when the queue is empty), or {0} when another has
// it. KEYS: lease, list. ARGV: token, ms.
var leaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return {0} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, redis.call('LINDEX', KEYS[2], 0)}
`)

// Lease takes sender's lease for ttl under token, and returns the head of
// the queue (nil: empty). ok is false when another holds the lease.
func (h *Held) Lease(ctx context.Context, sender, token string, ttl time.Duration) (head []byte, ok bool, err error) {
	res, err := leaseScript.Run(ctx, h.rdb, []string{h.leaseKey(sender), h.listKey(sender)}, token, ttl.Milliseconds()).Slice()
	if err != nil {
		return nil, false, fmt.Errorf("held lease: %w", err)
	}
	if n, _ := res[0].(int64); n != 1 {
		return nil, false, nil
	}
	if len(res) > 1 {
		if s, isStr := res[1].(string); isStr {
			head = []byte(s)
		}
	}
	return head, true, nil
}

// nextScript removes the head, if it is still ARGV[2], under the lease:
// into the set-aside list when ARGV[3] is 1. It renews the lease and
// returns {1, the new head or false}, or {0} without the lease.
// KEYS: lease, list, set-aside. ARGV: token, head, aside (1/0), lease ms,
// set-aside TTL s.
var nextScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0} end
if redis.call('LINDEX', KEYS[2], 0) == ARGV[2] then
  redis.call('LPOP', KEYS[2])
  if ARGV[3] == '1' then
    redis.call('RPUSH', KEYS[3], ARGV[2])
    redis.call('EXPIRE', KEYS[3], ARGV[5])
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, redis.call('LINDEX', KEYS[2], 0)}
`)

// Next removes head, handled, from sender's queue (or sets it aside: it
// will never be handled, and is kept for someone to look at), renews the
// lease for ttl, and returns the next head (nil: empty). ErrLeaseLost when
// token no longer holds the lease.
func (h *Held) Next(ctx context.Context, sender, token string, head []byte, aside bool, ttl time.Duration) ([]byte, error) {
	flag := "0"
	if aside {
		flag = "1"
	}
	res, err := nextScript.Run(ctx, h.rdb, []string{h.leaseKey(sender), h.listKey(sender), h.asideKey(sender)},
		token, head, flag, ttl.Milliseconds(), int64(setAsideTTL.Seconds())).Slice()
	if err != nil {
		return nil, fmt.Errorf("held next: %w", err)
	}
	if n, _ := res[0].(int64); n != 1 {
		return nil, ErrLeaseLost
	}
	if len(res) > 1 {
		if s, ok := res[1].(string); ok {
			return []byte(s), nil
		}
	}
	return nil, nil
}

// unleaseScript frees the lease if token holds it, and returns the queue's
// length. KEYS: lease, list. ARGV: token.
var unleaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return redis.call('LLEN', KEYS[2])
`)

// Unlease frees sender's lease. With an empty queue, the sender leaves the
// set first: a message pushed meanwhile is seen by the length read after,
// and the sender named again (its own pusher names it too, after its push).
// A queue left with messages always names its sender: its pusher's naming
// may have failed.
func (h *Held) Unlease(ctx context.Context, sender, token string, empty bool) error {
	if empty {
		if err := h.rdb.SRem(ctx, h.sendersKey(), sender).Err(); err != nil {
			return fmt.Errorf("held unlease: %w", err)
		}
	}
	left, err := unleaseScript.Run(ctx, h.rdb, []string{h.leaseKey(sender), h.listKey(sender)}, token).Int64()
	if err != nil {
		return fmt.Errorf("held unlease: %w", err)
	}
	if left > 0 {
		if err := h.rdb.SAdd(ctx, h.sendersKey(), sender).Err(); err != nil {
			return fmt.Errorf("held unlease: %w", err)
		}
	}
	return nil
}

// Senders lists the senders with a queue.
func (h *Held) Senders(ctx context.Context) ([]string, error) {
	s, err := h.rdb.SMembers(ctx, h.sendersKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("held senders: %w", err)
	}
	return s, nil
}

// Queued returns sender's queue, oldest first (tests and the operator).
func (h *Held) Queued(ctx context.Context, sender string) ([][]byte, error) {
	return h.list(ctx, h.listKey(sender))
}

// SetAside returns what was set aside from sender's queue.
func (h *Held) SetAside(ctx context.Context, sender string) ([][]byte, error) {
	return h.list(ctx, h.asideKey(sender))
}

func (h *Held) list(ctx context.Context, key string) ([][]byte, error) {
	vals, err := h.rdb.LRange(ctx, key, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("held list: %w", err)
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		out[i] = []byte(v)
	}
	return out, nil
}

// globEscape makes s match itself in a SCAN pattern: a key prefix may hold
// any of Redis's glob characters.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
