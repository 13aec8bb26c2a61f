package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Held keeps SMS that could not be handled (Postgres away) from a provider
// that never sends a webhook again (Twilio): each sender's in the order
// they came, in one list under the sender's hash tag, and the senders with
// any in a set, for the replayer to find. The caller seals each message:
// Redis never holds a number or words in clear.
type Held struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewHeld keeps held messages under prefix.
func NewHeld(rdb redis.UniversalClient, prefix string) *Held {
	return &Held{rdb: rdb, prefix: prefix}
}

// heldTTL bounds how long a sender's held messages stay when nothing
// replays them (every replica down for a week).
const heldTTL = 7 * 24 * time.Hour

func (h *Held) listKey(sender string) string { return h.prefix + "held:{" + sender + "}" }
func (h *Held) sendersKey() string           { return h.prefix + "held-senders" }

// Hold appends a sealed message to sender's list. The sender is named in
// the set first: a list the set does not name would never be replayed.
func (h *Held) Hold(ctx context.Context, sender string, sealed []byte) error {
	if err := h.rdb.SAdd(ctx, h.sendersKey(), sender).Err(); err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	_, err := h.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, h.listKey(sender), sealed)
		p.Expire(ctx, h.listKey(sender), heldTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	return nil
}

// Holding reports whether sender has messages held: a later one must wait
// behind them, or it would be answered before them.
func (h *Held) Holding(ctx context.Context, sender string) (bool, error) {
	n, err := h.rdb.Exists(ctx, h.listKey(sender)).Result()
	if err != nil {
		return false, fmt.Errorf("holding: %w", err)
	}
	return n > 0, nil
}

// Senders lists the senders with messages held.
func (h *Held) Senders(ctx context.Context) ([]string, error) {
	s, err := h.rdb.SMembers(ctx, h.sendersKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("held senders: %w", err)
	}
	return s, nil
}

// Oldest returns sender's oldest held message, nil when none is left.
func (h *Held) Oldest(ctx context.Context, sender string) ([]byte, error) {
	b, err := h.rdb.LIndex(ctx, h.listKey(sender), 0).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("oldest held: %w", err)
	}
	return b, nil
}

// doneScript removes ARGV[1] from the head of the list if it is still
// there (another replica may have replayed it first), and returns how many
// are left.
var doneScript = redis.NewScript(`
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then
	redis.call('LPOP', KEYS[1])
end
return redis.call('LLEN', KEYS[1])`)

// Done removes sealed, handled, from the head of sender's list; with the
// last one the sender leaves the set. A message held between the two is
// seen, and the sender named again.
func (h *Held) Done(ctx context.Context, sender string, sealed []byte) error {
	left, err := doneScript.Run(ctx, h.rdb, []string{h.listKey(sender)}, sealed).Int64()
	if err != nil {
		return fmt.Errorf("held done: %w", err)
	}
	if left > 0 {
		return nil
	}
	if err := h.rdb.SRem(ctx, h.sendersKey(), sender).Err(); err != nil {
		return fmt.Errorf("held done: %w", err)
	}
	if holding, err := h.Holding(ctx, sender); err != nil || !holding {
		return err
	}
	if err := h.rdb.SAdd(ctx, h.sendersKey(), sender).Err(); err != nil {
		return fmt.Errorf("held done: %w", err)
	}
	return nil
}
