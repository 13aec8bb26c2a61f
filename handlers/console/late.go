package console

import (
	"net/http"
	"sort"
	"time"

	"tinbao/locales"
	"tinbao/storage"
)

type lateRow struct {
	storage.UnitItem
	Deadline Deadline
}

type lateUnit struct {
	Unit          string
	Overdue, Soon int
	Rows          []lateRow
}

// late shows supervisors what is late or due soon, by unit (the intake team
// first), most overdue first.
func (c *Console) late(w http.ResponseWriter, r *http.Request) {
	if !supervises(officer(r)) {
		c.fail(w, r, http.StatusForbidden, "console.err.supervisors")
		return
	}
	items, err := c.db.Undecided(r.Context())
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	now := time.Now()
	byUnit := map[string]*lateUnit{}
	for _, it := range items {
		d := c.deadlineOf(clockOf(it.QueueItem), now)
		if d.State != "overdue" && d.State != "soon" {
			continue
		}
		name := it.Unit
		if name == "" {
			name = c.cat.T(locales.Default, "console.admin.intake", nil)
		}
		u := byUnit[name]
		if u == nil {
			u = &lateUnit{Unit: name}
			byUnit[name] = u
		}
		if d.State == "overdue" {
			u.Overdue++
		} else {
			u.Soon++
		}
		u.Rows = append(u.Rows, lateRow{UnitItem: it, Deadline: d})
	}
	var units []lateUnit
	for _, u := range byUnit {
		sort.Slice(u.Rows, func(i, j int) bool { return u.Rows[i].Deadline.Due.Before(u.Rows[j].Deadline.Due) })
		units = append(units, *u)
	}
	sort.Slice(units, func(i, j int) bool { return units[i].Overdue > units[j].Overdue })
	c.render(w, r, http.StatusOK, "late", units)
}
