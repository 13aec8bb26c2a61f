package delivery

import (
	"context"
	"log/slog"
	"time"

	"tinbao/flows"
	"tinbao/storage"
)

// Deadlines after which a report nobody has taken is brought to the officers'
// group again (docs/domain.md §4: an urgent report should reach a person in
// 15 minutes, any report the competent authority within 24 hours).
const (
	UrgentUnclaimedAfter = 10 * time.Minute
	NormalUnclaimedAfter = 20 * time.Hour
)

// Alerter posts to the officers' group the reports whose deadline is near and
// that are still new. Alerts go through the outbox like every other message.
type Alerter struct {
	db         *storage.DB
	engine     *flows.Engine
	group      storage.Alert
	consoleURL string
	every      time.Duration
	log        *slog.Logger
}

// NewAlerter builds an alerter for the officers' group (group.Body unused).
func NewAlerter(db *storage.DB, engine *flows.Engine, group storage.Alert, consoleURL string, log *slog.Logger) *Alerter {
	return &Alerter{db: db, engine: engine, group: group, consoleURL: consoleURL, every: time.Minute, log: log}
}

// Run checks every minute until ctx ends.
func (a *Alerter) Run(ctx context.Context) {
	t := time.NewTicker(a.every)
	defer t.Stop()
	for {
		if _, err := a.Check(ctx); err != nil && ctx.Err() == nil {
			a.log.WarnContext(ctx, "deadline alerts", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check queues the alerts that are due now and says how many.
func (a *Alerter) Check(ctx context.Context) (int, error) {
	now := time.Now()
	n, err := a.db.AlertDueTips(ctx, UrgentUnclaimedAfter, NormalUnclaimedAfter, a.group, func(d storage.DueTip) string {
		return a.engine.Alert(flows.AlertInfo{
			Reference: flows.Reference(d.Reference), Kind: flows.Kind(d.Kind), Category: d.Category, Urgent: d.Urgent,
			Age: now.Sub(d.CreatedAt), Link: a.consoleURL + "/tips/" + d.Reference, Deadline: true,
		})
	})
	if n > 0 {
		a.log.InfoContext(ctx, "deadline alerts queued", "count", n)
	}
	return n, err
}
