package storage

import (
	"context"
	"time"
)

// CommitTipAlone is the commit as it was before group commit: each report
// its own statement and transaction. The benchmark compares both in one run.
func (db *DB) CommitTipAlone(ctx context.Context, n NewTip) (CommittedTip, error) {
	args, err := db.commitArgs(ctx, n)
	if err != nil {
		return CommittedTip{}, err
	}
	row := db.commitOne(ctx, args)
	switch {
	case row.err != nil:
		return CommittedTip{}, row.err
	case !row.ok:
		return CommittedTip{}, db.commitOutcome(ctx, n.Channel, n.SourceMessageID)
	}
	return row.tip, nil
}

// CommitTogether commits reports as one group, as the commit loop does
// with reports that arrive at the same moment, and returns each one's
// result in order.
func (db *DB) CommitTogether(ctx context.Context, tips []NewTip) ([]CommittedTip, []error) {
	var group []*commitRequest
	for _, n := range tips {
		args, err := db.commitArgs(ctx, n)
		if err != nil {
			panic(err)
		}
		group = append(group, &commitRequest{ctx: ctx, args: args, channel: n.Channel, source: n.SourceMessageID,
			done: make(chan commitResult, 1)})
	}
	db.group.commitGroup(group)
	committed, errs := make([]CommittedTip, len(group)), make([]error, len(group))
	for i, r := range group {
		res := <-r.done
		committed[i], errs[i] = res.tip, res.err
	}
	return committed, errs
}

// ShortenLock makes the lock run out after d, for tests of a lock taken over.
func (s *Sessions) ShortenLock(d time.Duration) { s.lockTTL = d }

// RecordKey is the key of sender's record while it is a key.
func (s *Sessions) RecordKey(sender string) string { return s.senderKey(sender) }
