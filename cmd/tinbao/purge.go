package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"tinbao/storage"
)

// purge runs `tinbao purge [--dry-run]`: remove what has outlived its
// retention now, or, with --dry-run, say what that would remove.
func purge(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	dry := false
	for _, a := range args {
		if a != "--dry-run" {
			return fmt.Errorf("%w: purge [--dry-run]", errUsage)
		}
		dry = true
	}
	cfg, db, err := openKeyed(ctx, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := db.Purge(ctx, cfg.Retention, dry)
	if err != nil {
		return err
	}
	verb := "removed"
	if dry {
		verb = "would remove (dry run, nothing changed)"
	}
	r := cfg.Retention
	fmt.Fprintf(stdout, "purge %s:\n", verb)
	for _, row := range []struct {
		class string
		n     int64
		keep  time.Duration
	}{
		{"report contents and media (erased)", c.Reports, r.Reports},
		{"contact handles", c.Handles, r.Handles},
		{"delivery records", c.Delivery, r.Delivery},
		{"conversational SMS replies", c.Replies, r.Replies},
		{"audit entries", c.Audit, r.Audit},
	} {
		fmt.Fprintf(stdout, "  %-38s %6d  (kept %s)\n", row.class, row.n, days(row.keep))
	}
	fmt.Fprintf(stdout, "  %-38s %6s  (kept %s in Redis, expired there)\n", "conversation state", "-", days(cfg.Conversations))
	return nil
}

func days(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// runPurge purges on a schedule inside serve; replicas take turns through an
// advisory lock, and a jitter spreads them.
func runPurge(ctx context.Context, db *storage.DB, r storage.Retention, every time.Duration, log *slog.Logger) {
	if every <= 0 {
		log.Info("purge: not scheduled (PURGE_EVERY=0); run tinbao purge")
		return
	}
	wait := time.Duration(rand.Int64N(int64(time.Minute)))
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		c, err := db.Purge(ctx, r, false)
		if err != nil && ctx.Err() == nil {
			log.Warn("purge failed", "err", err)
		} else if err == nil {
			log.Info("purge", "reports", c.Reports, "handles", c.Handles, "delivery", c.Delivery, "replies", c.Replies,
				"audit", c.Audit)
		}
		wait = every + time.Duration(rand.Int64N(int64(every/10)+1))
	}
}
