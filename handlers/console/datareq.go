package console

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"tinbao/flows"
	"tinbao/storage"
)

// requestRow is a data request with how its 2-working-day clock stands and
// what a supervisor may decide on it.
type requestRow struct {
	storage.DataRequest
	State     string   // "ok", "soon" (due within a day), "overdue"; "" once decided
	Decisions []string // done, refused
}

// requestRows adds the clock and the decisions to each request.
func requestRows(reqs []storage.DataRequest, now time.Time) []requestRow {
	rows := make([]requestRow, len(reqs))
	for i, d := range reqs {
		rows[i] = requestRow{DataRequest: d}
		if d.Status != "pending" {
			continue
		}
		rows[i].Decisions = storage.DataDecisions(d.Kind)
		switch left := d.DueAt.Sub(now); {
		case left < 0:
			rows[i].State = "overdue"
		case left < 24*time.Hour:
			rows[i].State = "soon"
		default:
			rows[i].State = "ok"
		}
	}
	return rows
}

// requestsData is what the requests page and the report page show.
type requestsData struct {
	Rows      []requestRow
	Reasons   []string // why an erasure may be refused
	CanDecide bool     // supervisors decide; officers see
	Pending   int
	Overdue   int
	CSRF      string // the forms' token
	Back      string // "tip": a decision returns to the report's page
}

func (c *Console) requestsData(r *http.Request, reqs []storage.DataRequest, back string) requestsData {
	d := requestsData{Rows: requestRows(reqs, time.Now()), Reasons: flows.ErasureRefusals, CanDecide: supervises(officer(r)),
		CSRF: c.csrfToken(r.Context()), Back: back}
	for _, r := range d.Rows {
		if r.Status == "pending" {
			d.Pending++
		}
		if r.State == "overdue" {
			d.Overdue++
		}
	}
	return d
}

// requests is the queue of data requests: those waiting first, soonest due
// first, with their 2-working-day clock. A unit's officers do not see it:
// they see only what was referred to them.
func (c *Console) requests(w http.ResponseWriter, r *http.Request) {
	o := officer(r)
	if unitOfficer(o) {
		c.fail(w, r, http.StatusForbidden, "console.err.not_intake")
		return
	}
	reqs, err := c.db.DataRequests(r.Context(), 0)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	c.render(w, r, http.StatusOK, "requests", c.requestsData(r, reqs, ""))
}

// decideRequest records a supervisor's decision on a waiting request: an
// erasure done (the report is erased) or refused with a reason from the
// fixed list, a withdrawn sharing consent done once the services already
// told were informed. The person who asked is told in plain words where
// the decision says something to them.
func (c *Console) decideRequest(w http.ResponseWriter, r *http.Request) {
	o := officer(r)
	if !supervises(o) {
		c.fail(w, r, http.StatusForbidden, "console.err.supervisors")
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	d, err := c.db.DataRequestByID(r.Context(), id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		c.fail(w, r, http.StatusNotFound, "console.err.no_request")
		return
	case err != nil:
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	decision, reason := r.PostFormValue("decision"), r.PostFormValue("reason")
	// An erasure cannot be undone: the form asks the supervisor to tick
	// that they know, so one stray tap erases nothing.
	sure := d.Kind != "erasure" || decision != "done" || r.PostFormValue("sure") == "yes"
	if !slices.Contains(storage.DataDecisions(d.Kind), decision) || (decision == "refused" && !slices.Contains(flows.ErasureRefusals, reason)) || !sure {
		c.fail(w, r, http.StatusBadRequest, "console.err.datareq")
		return
	}
	notice, _ := c.engine.DataNotice(d.Language, d.Channel, flows.Reference(d.Reference), d.Kind, decision, reason)
	err = c.db.DecideDataRequest(r.Context(), d.ID, decision, reason, o.Username, notice)
	switch {
	case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotFound):
		c.fail(w, r, http.StatusConflict, "console.err.datareq")
		return
	case err != nil:
		c.log.ErrorContext(r.Context(), "decide data request", "data_request_id", d.ID, "err", err)
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	c.flash(r, "console.datareq.decided", nil)
	back := "/requests"
	if r.PostFormValue("back") == "tip" {
		back = "/tips/" + d.Reference
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
