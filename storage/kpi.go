package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// KPIRow is one period (and channel and kind) of the plan's figures.
type KPIRow struct {
	Period   time.Time
	Channel  string
	Kind     string
	Received int
	Handled  int // forwarded or decided: the plan's "handled" (target 100 %)
	Decided  int // resolved, unfounded or duplicate (the plan's resolution rate, target > 90 %)
	// MedianTriage is the median time from receipt to the first claim or
	// status change; 0 when none was triaged.
	MedianTriage time.Duration
	Acks         int // acknowledgements
	AcksOut      int // of which sent or delivered
}

const sqlKPI = `SELECT date_trunc($1, t.created_at AT TIME ZONE 'Asia/Ho_Chi_Minh') AS period, t.channel, t.kind,
	count(*),
	count(*) FILTER (WHERE t.status IN ('forwarded', 'resolved', 'unfounded', 'duplicate')),
	count(*) FILTER (WHERE t.status IN ('resolved', 'unfounded', 'duplicate')),
	COALESCE(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM f.at - t.created_at)), 0),
	count(a.id), count(a.id) FILTER (WHERE a.status IN ('sent', 'delivered'))
FROM tips t
LEFT JOIN LATERAL (SELECT min(at) AS at FROM audit_log l
	WHERE l.tip_id = t.id AND l.action IN ('tip.claimed', 'tip.status_changed')) f ON true
LEFT JOIN outbox a ON a.tip_id = t.id AND a.kind = 'ack' AND a.status <> 'withheld'
WHERE t.created_at >= $2
GROUP BY 1, 2, 3
ORDER BY 1 DESC, 2, 3`

// KPIs computes the plan's figures by week or month since a time.
func (db *DB) KPIs(ctx context.Context, by string, since time.Time) ([]KPIRow, error) {
	if by != "week" && by != "month" {
		return nil, fmt.Errorf("kpis: by %q", by)
	}
	rows, err := db.pool.Query(ctx, sqlKPI, by, since)
	if err != nil {
		return nil, fmt.Errorf("kpis: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (KPIRow, error) {
		var k KPIRow
		var median float64
		err := r.Scan(&k.Period, &k.Channel, &k.Kind, &k.Received, &k.Handled, &k.Decided, &median, &k.Acks, &k.AcksOut)
		k.MedianTriage = time.Duration(median * float64(time.Second))
		return k, err
	})
}

// ExportRow is a report as exported: no words of the reporter's, nothing
// that could say who they are.
type ExportRow struct {
	Reference, Kind, Channel, Status, Urgency, Category string
	CreatedAt                                           time.Time
}

// ExportTips lists reports for a CSV export, without any identity or text.
func (db *DB) ExportTips(ctx context.Context, since time.Time) ([]ExportRow, error) {
	rows, err := db.pool.Query(ctx, `SELECT reference, kind, channel, status, urgency, COALESCE(category, ''), created_at
		FROM tips WHERE created_at >= $1 ORDER BY created_at, id`, since)
	if err != nil {
		return nil, fmt.Errorf("export tips: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[ExportRow])
}

// Gauges are the figures /metrics reports, read at scrape time.
type Gauges struct {
	Tips         map[[3]string]int // kind, channel, status → count
	Outbox       map[string]int    // status → count
	OldestQueued time.Duration     // the dispatcher's lag
}

// ReadGauges reads what /metrics reports.
func (db *DB) ReadGauges(ctx context.Context) (Gauges, error) {
	g := Gauges{Tips: map[[3]string]int{}, Outbox: map[string]int{}}
	rows, err := db.pool.Query(ctx, `SELECT kind, channel, status, count(*) FROM tips GROUP BY 1, 2, 3`)
	if err != nil {
		return g, fmt.Errorf("gauges: %w", err)
	}
	for rows.Next() {
		var k [3]string
		var n int
		if err := rows.Scan(&k[0], &k[1], &k[2], &n); err != nil {
			return g, fmt.Errorf("gauges: %w", err)
		}
		g.Tips[k] = n
	}
	rows, err = db.pool.Query(ctx, `SELECT status, count(*) FROM outbox GROUP BY 1`)
	if err != nil {
		return g, fmt.Errorf("gauges: %w", err)
	}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return g, fmt.Errorf("gauges: %w", err)
		}
		g.Outbox[s] = n
	}
	var lag float64
	err = db.pool.QueryRow(ctx, `SELECT COALESCE(extract(epoch FROM now() - min(next_attempt_at)), 0) FROM outbox
		WHERE status = 'queued' AND next_attempt_at <= now()`).Scan(&lag)
	g.OldestQueued = time.Duration(lag * float64(time.Second))
	if err != nil {
		return g, fmt.Errorf("gauges: %w", err)
	}
	return g, nil
}
