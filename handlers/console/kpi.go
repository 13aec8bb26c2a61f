package console

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tinbao/storage"
)

// The plan's targets: every report handled, more than nine in ten decided.
const (
	targetHandled = 1.0
	targetDecided = 0.9
)

// kpiPeriod sums one period over channels and kinds.
type kpiPeriod struct {
	Period                              time.Time
	Received, Handled, Decided          int
	Acks, AcksOut                       int
	MedianTriage                        time.Duration // the median of the rows' medians: a summary, not exact
	HandledPct, DecidedPct, AckPct      int
	HandledMet, DecidedMet              bool
	BarReceived, BarHandled, BarDecided int // SVG bar heights
}

type kpiData struct {
	By      string
	Periods []kpiPeriod
	Rows    []storage.KPIRow // by channel and kind
	Max     int
	Width   int // of the chart, in bar groups of 40 units: at least 8, so one period is one thin group
}

func pct(n, of int) int {
	if of == 0 {
		return 0
	}
	return n * 100 / of
}

// periodOf reads ?by=: week (the default) or month.
func periodOf(r *http.Request) string {
	if r.URL.Query().Get("by") == "month" {
		return "month"
	}
	return "week"
}

func (c *Console) kpiRows(ctx context.Context, by string) ([]storage.KPIRow, error) {
	since := time.Now().AddDate(0, -6, 0)
	if by == "month" {
		since = time.Now().AddDate(-1, 0, 0)
	}
	return c.db.KPIs(ctx, by, since)
}

// kpi shows the plan's figures by week or month, with simple bars.
func (c *Console) kpi(w http.ResponseWriter, r *http.Request) {
	by := periodOf(r)
	rows, err := c.kpiRows(r.Context(), by)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	byPeriod := map[time.Time]*kpiPeriod{}
	medians := map[time.Time][]time.Duration{}
	for _, k := range rows {
		p := byPeriod[k.Period]
		if p == nil {
			p = &kpiPeriod{Period: k.Period}
			byPeriod[k.Period] = p
		}
		p.Received += k.Received
		p.Handled += k.Handled
		p.Decided += k.Decided
		p.Acks += k.Acks
		p.AcksOut += k.AcksOut
		if k.MedianTriage > 0 {
			medians[k.Period] = append(medians[k.Period], k.MedianTriage)
		}
	}
	d := kpiData{By: by, Rows: rows}
	for _, p := range byPeriod {
		if m := medians[p.Period]; len(m) > 0 {
			sort.Slice(m, func(i, j int) bool { return m[i] < m[j] })
			p.MedianTriage = m[len(m)/2].Round(time.Second)
		}
		p.HandledPct, p.DecidedPct, p.AckPct = pct(p.Handled, p.Received), pct(p.Decided, p.Received), pct(p.AcksOut, p.Acks)
		p.HandledMet = float64(p.Handled) >= targetHandled*float64(p.Received)
		p.DecidedMet = float64(p.Decided) > targetDecided*float64(p.Received)
		d.Periods = append(d.Periods, *p)
		d.Max = max(d.Max, p.Received)
	}
	sort.Slice(d.Periods, func(i, j int) bool { return d.Periods[i].Period.After(d.Periods[j].Period) })
	d.Width = max(len(d.Periods), 8) * 40
	for i := range d.Periods {
		p := &d.Periods[i]
		scale := func(n int) int {
			if d.Max == 0 {
				return 0
			}
			return n * 100 / d.Max
		}
		p.BarReceived, p.BarHandled, p.BarDecided = scale(p.Received), scale(p.Handled), scale(p.Decided)
	}
	c.render(w, r, http.StatusOK, "kpi", d)
}

// supervises says whether an officer may do what only supervisors do:
// exports, assignments, the decision clock, the audit and late pages.
func supervises(o storage.Officer) bool { return o.Role == "supervisor" || o.Role == "admin" }

// kpiCSV exports the KPI table; audited.
func (c *Console) kpiCSV(w http.ResponseWriter, r *http.Request) {
	if !supervises(officer(r)) {
		c.fail(w, r, http.StatusForbidden, "console.err.supervisors")
		return
	}
	by := periodOf(r)
	rows, err := c.kpiRows(r.Context(), by)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	c.audit(r, officer(r).Username, "kpi.exported", 0, map[string]string{"by": by, "rows": fmt.Sprint(len(rows))})
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="tinbao-kpi-`+by+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{by, "channel", "kind", "received", "handled", "decided", "median_triage_minutes", "acks", "acks_sent"})
	for _, k := range rows {
		cw.Write([]string{k.Period.Format("2006-01-02"), k.Channel, k.Kind, fmt.Sprint(k.Received), fmt.Sprint(k.Handled),
			fmt.Sprint(k.Decided), fmt.Sprintf("%.0f", k.MedianTriage.Minutes()), fmt.Sprint(k.Acks), fmt.Sprint(k.AcksOut)})
	}
	cw.Flush()
}

// tipsCSV exports the reports of the last year without any identity or
// words of the reporter's; audited.
func (c *Console) tipsCSV(w http.ResponseWriter, r *http.Request) {
	if !supervises(officer(r)) {
		c.fail(w, r, http.StatusForbidden, "console.err.supervisors")
		return
	}
	rows, err := c.db.ExportTips(r.Context(), time.Now().AddDate(-1, 0, 0))
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	c.audit(r, officer(r).Username, "tips.exported", 0, map[string]string{"rows": fmt.Sprint(len(rows))})
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="tinbao-reports.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"reference", "kind", "channel", "status", "urgency", "category", "created_at"})
	for _, t := range rows {
		cw.Write([]string{t.Reference, t.Kind, t.Channel, t.Status, t.Urgency, t.Category, t.CreatedAt.UTC().Format(time.RFC3339)})
	}
	cw.Flush()
}

// Metrics is /metrics: figures read from Postgres at each scrape (reports
// by kind, channel and status; outbox states; the dispatcher's lag;
// deadlines at risk), so every replica reports the same truth; and this
// process's own (go_goroutines, process_open_fds…), which show a leak after
// a fault (make faults reads them).
func (c *Console) Metrics() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{c}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(c.metrics...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

type collector struct{ c *Console }

var (
	descTips     = prometheus.NewDesc("tinbao_tips", "Reports by kind, channel and status.", []string{"kind", "channel", "status"}, nil)
	descOutbox   = prometheus.NewDesc("tinbao_outbox_messages", "Outbox messages by delivery status.", []string{"status"}, nil)
	descLag      = prometheus.NewDesc("tinbao_outbox_lag_seconds", "Age of the oldest message due and not yet sent.", nil, nil)
	descDeadline = prometheus.NewDesc("tinbao_deadlines_at_risk", "Open reports whose deadline is near or past.", []string{"state"}, nil)
)

func (k collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descTips
	ch <- descOutbox
	ch <- descLag
	ch <- descDeadline
}

func (k collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g, err := k.c.db.ReadGauges(ctx)
	if err != nil {
		k.c.log.Warn("metrics", "err", err)
		return
	}
	for key, n := range g.Tips {
		ch <- prometheus.MustNewConstMetric(descTips, prometheus.GaugeValue, float64(n), key[0], key[1], key[2])
	}
	for s, n := range g.Outbox {
		ch <- prometheus.MustNewConstMetric(descOutbox, prometheus.GaugeValue, float64(n), s)
	}
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, g.OldestQueued.Seconds())
	items, err := k.c.db.Queue(ctx, storage.QueueFilter{Limit: 500})
	if err != nil {
		return
	}
	risk := map[string]int{"soon": 0, "overdue": 0}
	now := time.Now()
	for _, it := range items {
		if st := k.c.deadlineOf(clockOf(it), now).State; st == "soon" || st == "overdue" {
			risk[st]++
		}
	}
	for st, n := range risk {
		ch <- prometheus.MustNewConstMetric(descDeadline, prometheus.GaugeValue, float64(n), st)
	}
}
