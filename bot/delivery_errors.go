package bot

import (
	"errors"
	"fmt"
	"time"
)

// ErrUndeliverable wraps a send error that retrying cannot fix: the person
// blocked the bot, the chat or number no longer exists.
var ErrUndeliverable = errors.New("undeliverable")

// ErrOptedOut wraps ErrUndeliverable for a message withheld because the
// person asked for no more messages (STOP): their wish, not a fault.
var ErrOptedOut = fmt.Errorf("%w: the person asked for no more messages", ErrUndeliverable)

// OutboxKey is the idempotency key an outbox message is sent under: the
// provider drops a second send with the same key, and an adapter knows by
// it which message it is sending.
func OutboxKey(id int64) string { return fmt.Sprintf("tinbao-%d", id) }

// RetryAfterError is a send error with the wait the provider asked for
// (Telegram's retry_after on 429).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string { return fmt.Sprintf("retry after %s: %v", e.After, e.Err) }
func (e *RetryAfterError) Unwrap() error { return e.Err }
