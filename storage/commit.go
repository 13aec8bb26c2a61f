package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Group commit. A report's commit is small but durable: its cost is the
// fsync, and the NOTIFY it sends serialises every notifying transaction's
// commit behind one lock. Reports that arrive while another commit is in
// flight therefore wait together and go as one pipeline of sqlCommitTip
// statements: one round trip, one transaction, one fsync. Nothing waits to
// gather them: a commit loop takes the first report at once and whatever
// else is already waiting, so a single writer sees no added latency.

// Group commit sizes.
const (
	// maxGroup bounds one transaction: enough to absorb a surge, small
	// enough that one transaction's locks and WAL stay short.
	maxGroup = 64
	// commitLoops run side by side: while one group waits for its fsync,
	// the next one is built and sent.
	commitLoops = 2
	// commitTimeout bounds one group's round trip. The loop runs on its own
	// context, never a caller's: a caller who gives up must not cancel the
	// others' commit.
	commitTimeout = 30 * time.Second
)

// commitRequest is one report waiting for the commit loop.
type commitRequest struct {
	ctx     context.Context
	args    []any  // sqlCommitTip's parameters
	channel string // with source: the report's source key, to tell a
	source  string // replay from a reference code already taken
	done    chan commitResult
}

type commitResult struct {
	tip CommittedTip
	err error
}

// committer runs the commit loops of one DB, started with its first commit.
type committer struct {
	db       *DB
	queue    chan *commitRequest
	start    sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

func newCommitter(db *DB) *committer {
	return &committer{db: db, queue: make(chan *commitRequest, 4*maxGroup), stop: make(chan struct{})}
}

// errClosed is returned to a commit asked of a closed DB.
var errClosed = errors.New("storage: closed")

// commit hands r to a loop and waits for its own result, or for ctx.
func (c *committer) commit(ctx context.Context, r *commitRequest) (CommittedTip, error) {
	c.start.Do(func() {
		for range commitLoops {
			c.wg.Go(c.loop)
		}
	})
	r.done = make(chan commitResult, 1)
	select {
	case c.queue <- r:
	case <-c.stop:
		return CommittedTip{}, fmt.Errorf("commit tip: %w", errClosed)
	case <-ctx.Done():
		return CommittedTip{}, fmt.Errorf("commit tip: %w", ctx.Err())
	}
	select {
	case res := <-r.done:
		return res.tip, res.err
	case <-ctx.Done():
		// The report may still be committed: a retry with the same
		// source finds it.
		return CommittedTip{}, fmt.Errorf("commit tip: %w", ctx.Err())
	}
}

// close stops the loops once what they hold is answered.
func (c *committer) close() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.wg.Wait()
}

// loop takes the first waiting report and every other one already waiting
// (up to maxGroup), commits them together, and answers each.
func (c *committer) loop() {
	for {
		var first *commitRequest
		select {
		case <-c.stop:
			return
		case first = <-c.queue:
		}
		group := []*commitRequest{first}
	gather:
		for len(group) < maxGroup {
			select {
			case r := <-c.queue:
				group = append(group, r)
			default:
				break gather
			}
		}
		c.commitGroup(group)
	}
}

// commitGroup commits a group. Reports whose caller gave up before they were
// sent are dropped (nothing of them was written). One alone runs as its own
// statement, as it always did; several share a pipeline, and if that fails
// as a whole each is tried again alone, so that one report Postgres refuses
// cannot sink the others.
func (c *committer) commitGroup(group []*commitRequest) {
	live := group[:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.done <- commitResult{err: fmt.Errorf("commit tip: %w", err)}
			continue
		}
		live = append(live, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	switch {
	case len(live) == 0:
		return
	case len(live) == 1:
		c.answer(ctx, live[0], c.db.commitOne(ctx, live[0].args))
		return
	}
	rows, err := c.db.commitPipeline(ctx, live)
	if err != nil {
		for _, r := range live {
			c.answer(ctx, r, c.db.commitOne(ctx, r.args))
		}
		return
	}
	for i, r := range live {
		c.answer(ctx, r, rows[i])
	}
}

// commitRow is what sqlCommitTip returned for one report: ok is false when
// it inserted nothing.
type commitRow struct {
	tip CommittedTip
	ok  bool
	err error
}

// answer tells r's caller its result, telling a replay from a taken code
// when nothing was inserted.
func (c *committer) answer(ctx context.Context, r *commitRequest, row commitRow) {
	switch {
	case row.err != nil:
		r.done <- commitResult{err: fmt.Errorf("commit tip: %w", row.err)}
	case row.ok:
		r.done <- commitResult{tip: row.tip}
	default:
		r.done <- commitResult{err: c.db.commitOutcome(ctx, r.channel, r.source)}
	}
}

// commitOne runs one report's statement in its own transaction.
func (db *DB) commitOne(ctx context.Context, args []any) commitRow {
	return scanCommit(db.pool.QueryRow(ctx, sqlCommitTip, args...))
}

// commitPipeline sends every report's statement in one pipeline with one
// Sync: Postgres runs them in one implicit transaction, committed (one
// fsync) at the Sync, or rolled back whole if any statement fails.
func (db *DB) commitPipeline(ctx context.Context, group []*commitRequest) ([]commitRow, error) {
	b := &pgx.Batch{}
	for _, r := range group {
		b.Queue(sqlCommitTip, r.args...)
	}
	br := db.pool.SendBatch(ctx, b)
	rows := make([]commitRow, len(group))
	var failed error
	for i := range group {
		rows[i] = scanCommit(br.QueryRow())
		if rows[i].err != nil && failed == nil {
			failed = rows[i].err
		}
	}
	if err := br.Close(); err != nil && failed == nil {
		failed = err
	}
	if failed != nil {
		return nil, failed
	}
	return rows, nil
}

func scanCommit(row pgx.Row) commitRow {
	var c commitRow
	var notified string
	err := row.Scan(&c.tip.TipID, &c.tip.Reference, &c.tip.OutboxID, &notified, &notified)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return commitRow{}
	case err != nil:
		return commitRow{err: err}
	}
	c.ok = true
	return c
}

const sqlSourceCommitted = `SELECT EXISTS (SELECT 1 FROM tips WHERE channel = $1 AND source_message_id = $2)`

// commitOutcome says why a report inserted nothing: its source message was
// committed before (ErrDuplicate), or else its reference code is taken
// (ErrReferenceTaken). Asked after the transaction ended, when the row it
// conflicted with is committed and visible.
func (db *DB) commitOutcome(ctx context.Context, channel, source string) error {
	var replay bool
	if err := db.pool.QueryRow(ctx, sqlSourceCommitted, channel, source).Scan(&replay); err != nil {
		return fmt.Errorf("commit tip: %w", err)
	}
	if replay {
		return ErrDuplicate
	}
	return ErrReferenceTaken
}
