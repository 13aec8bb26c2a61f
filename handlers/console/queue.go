package console

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"tinbao/flows"
	"tinbao/storage"
)

type queueRow struct {
	storage.QueueItem
	Deadline Deadline
}

type queueData struct {
	Units   []storage.Unit // to filter by (not for a unit's own officers)
	Items   []queueRow
	Counts  map[string]int
	Filter  storage.QueueFilter
	Late    bool // only overdue or due soon
	Open    int
	Overdue int
	Intake  bool // may take the next report (not a unit's officers)
	// Alarms: people who called for help and have not sent yet (the
	// intake's to know; a unit sees only what was referred to it).
	Alarms []storage.OpenAlarm
}

// queue lists reports: urgent first, then oldest; filters by status, kind,
// channel, and the officer's own.
func (c *Console) queue(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := storage.QueueFilter{Status: pick(q.Get("status"), storage.Statuses), Kind: pick(q.Get("kind"), []string{"tip", "help"}),
		Channel: pick(q.Get("channel"), []string{"telegram", "sms", "web"})}
	if q.Get("mine") != "" {
		f.Mine = officer(r).Username
	}
	var units []storage.Unit
	if o := officer(r); unitOfficer(o) {
		f.Unit = o.Unit // a unit works what was referred to it
	} else {
		var err error
		if units, err = c.db.Units(r.Context()); err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
			return
		}
		for _, u := range units {
			if u.Name == q.Get("unit") {
				f.Unit = u.Name // what was referred to that unit
			}
		}
	}
	items, err := c.db.Queue(r.Context(), f)
	if err != nil {
		c.log.ErrorContext(r.Context(), "queue", "err", err)
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	unitCounts := "" // the intake counts everything; a unit, what was referred to it
	if o := officer(r); unitOfficer(o) {
		unitCounts = o.Unit
	}
	counts, err := c.db.QueueCounts(r.Context(), unitCounts)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	d := queueData{Units: units, Counts: counts, Filter: f, Late: q.Get("late") != "",
		Open: counts["new"] + counts["in_review"] + counts["verifying"], Intake: !unitOfficer(officer(r))}
	if !d.Intake {
		d.Open += counts["forwarded"] // what a unit works: handed to it, not yet decided
	}
	if d.Intake {
		if d.Alarms, err = c.db.OpenAlarms(r.Context()); err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
			return
		}
	}
	now := time.Now()
	for _, it := range items {
		row := queueRow{QueueItem: it, Deadline: c.deadlineOf(clockOf(it), now)}
		if row.Deadline.State == "overdue" {
			d.Overdue++
		}
		if d.Late && row.Deadline.State != "overdue" && row.Deadline.State != "soon" {
			continue
		}
		d.Items = append(d.Items, row)
	}
	c.render(w, r, http.StatusOK, "queue", d)
}

// pick keeps a filter value only if it is one of the allowed.
func pick(v string, allowed []string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return ""
}

// claimNext gives the officer the most pressing report nobody has.
func (c *Console) claimNext(w http.ResponseWriter, r *http.Request) {
	if unitOfficer(officer(r)) {
		// Taking the next report is the intake's work: a unit's officer
		// would take one never referred to them, and hold it from intake.
		c.fail(w, r, http.StatusForbidden, "console.err.intake_only")
		return
	}
	_, ref, err := c.db.ClaimNext(r.Context(), officer(r).Username)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		c.flash(r, "console.queue.empty", nil)
		http.Redirect(w, r, "/queue", http.StatusSeeOther)
	case err != nil:
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
	default:
		http.Redirect(w, r, "/tips/"+ref, http.StatusSeeOther)
	}
}

// tipFor finds the report a path names, answering 404 itself.
func (c *Console) tipFor(w http.ResponseWriter, r *http.Request) (storage.Tip, bool) {
	ref, err := flows.ParseReference(r.PathValue("code"))
	if err != nil {
		c.fail(w, r, http.StatusNotFound, "console.err.no_tip")
		return storage.Tip{}, false
	}
	t, err := c.db.TipByReference(r.Context(), string(ref))
	if errors.Is(err, storage.ErrNotFound) {
		c.fail(w, r, http.StatusNotFound, "console.err.no_tip")
		return storage.Tip{}, false
	}
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return storage.Tip{}, false
	}
	if o := officer(r); unitOfficer(o) {
		// A unit officer reaches only what was referred to their unit,
		// for every action as for the page: another unit's report, even
		// with its code, is not found.
		refs, err := c.db.Referrals(r.Context(), t.ID)
		if err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
			return storage.Tip{}, false
		}
		if !slices.ContainsFunc(refs, func(ref storage.Referral) bool { return ref.UnitName == o.Unit }) {
			c.fail(w, r, http.StatusNotFound, "console.err.no_tip")
			return storage.Tip{}, false
		}
	}
	return t, true
}
