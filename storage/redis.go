package storage

import (
	"fmt"
	"net/url"

	"github.com/redis/go-redis/v9"
)

// OpenRedis connects to the Redis that REDIS_URL names: one server
// (redis://host:6379/0), or a Redis Cluster, named by one node and the
// others as addr parameters (redis://host1:6379?addr=host2:6379&addr=host3:6379,
// go-redis's cluster form). Every multi-key script tinbao runs keeps its keys
// in one hash slot (a hash tag per sender, per limit, per pace), so both work.
func OpenRedis(raw string) (redis.UniversalClient, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	if u.Query().Has("addr") {
		opts, err := redis.ParseClusterURL(raw)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL (cluster): %w", err)
		}
		if !u.Query().Has("dialer_retries") {
			opts.DialerRetries = dialOnce
		}
		return redis.NewClusterClient(opts), nil
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.DialerRetries = dialOnce
	return redis.NewClient(opts), nil
}

// dialOnce: a refused dial is not retried within the command. go-redis dials
// 5 times, 100 ms apart, on each of a command's 4 tries, so with Redis down
// a webhook took up to 5 s to answer 503 (make faults measured it); Telegram
// and the SMS gateway retry the update themselves, and the next command
// dials again.
const dialOnce = 1
