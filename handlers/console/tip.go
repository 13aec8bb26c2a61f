package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"tinbao/flows"
	"tinbao/storage"
)

func flowsRef(ref string) flows.Reference { return flows.Reference(ref) }

// transitions are the statuses an officer may move a report to; only a
// supervisor reopens a closed one.
var transitions = map[string][]string{
	"new":       {"in_review"},
	"in_review": {"verifying", "forwarded", "resolved", "unfounded", "duplicate"},
	"verifying": {"forwarded", "resolved", "unfounded", "duplicate"},
	"forwarded": {"resolved", "unfounded", "duplicate"},
	"resolved":  {},
	"unfounded": {},
	"duplicate": {},
}

func closed(status string) bool { return len(transitions[status]) == 0 }

func (c *Console) allowed(o storage.Officer, from string) []string {
	next := transitions[from]
	if closed(from) && (o.Role == "supervisor" || o.Role == "admin") {
		next = []string{"in_review"} // reopen
	}
	return next
}

type tipData struct {
	Tip      storage.Tip
	Fields   []flows.Field
	Events   []timelineEntry
	Outbox   []storage.OutboxMessage
	Thread   []storage.TipMessage
	Next     []string
	Mine     bool
	Taken    bool // by a colleague
	CanReply bool
	// ContactGiven: the person left a way to reach them (a phone, a Zalo
	// name) though this channel cannot write back: the page says to use it.
	ContactGiven bool
	Deadline     Deadline
	Distress     []flows.Distress
	// Referrals (chuyển tuyến): those made, the units one may refer to
	// (each with whether the person's consent allows it), and whether this
	// officer may refer at all.
	Referrals []storage.Referral
	Units     []unitChoice
	CanRefer  bool
	// CanForward: the referral form may move the report to forwarded too.
	CanForward bool
	// Draft: the referral form as left when it was refused (nil: none).
	Draft     *referDraft
	NoUnit    bool // consent allows no unit: said plainly, not a list of greyed-out names
	Emergency bool // some units only under the emergency exception, with a reason
	UnitView  bool // a unit officer: only what was shared is shown
	Shareable []flows.Field
	// A supervisor may give the report to anyone.
	Officers []storage.Officer
	// Duplicates: the reports closed as repeating this one, and the one
	// this repeats.
	Duplicates  []string
	DuplicateOf string
	// SameSender: the sender's other reports (not shown to a unit's
	// officers, who see only what was referred to them).
	SameSender []storage.SenderTip
	Notes      []storage.Note
	// CanFlag: the intake team and supervisors may flag the sender.
	CanFlag bool
	// Requests about the report's data (not shown to a unit's officers).
	Requests requestsData
	// Photos and files, with who may download originals.
	Media     []mediaItem
	Originals bool
	// Canned: the canned replies offered (message IDs).
	Canned []string
	// OptedOut: an SMS sender who asked for no more messages (STOP, DUNG):
	// said above the reply form.
	OptedOut bool
}

// canned are the canned replies offered for a report. "We have passed it to
// the body responsible" only once it has been (referred to a unit, or
// forwarded): on a new report it told the person something untrue; until
// then the thanks says it was received.
func canned(t storage.Tip, refs []storage.Referral) []string {
	thanks := "console.canned.thanks"
	if t.Status == "forwarded" || len(refs) > 0 {
		thanks = "console.canned.forwarded"
	}
	return []string{thanks, "console.canned.safe", "console.canned.danger", "console.canned.where"}
}

// tip shows a report: the words that raised an alarm first, every field the
// reporter gave, the timeline and what can be done. Viewing is audited.
func (c *Console) tip(w http.ResponseWriter, r *http.Request) {
	t, ok := c.tipFor(w, r)
	if !ok {
		return
	}
	o := officer(r)
	ctx := r.Context()
	refs, err := c.db.Referrals(ctx, t.ID)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	all := c.engine.Describe(flows.Kind(t.Kind), t.Details)
	fields, distress := visible(o, t, refs, all)
	// Audited once allowed: a unit officer refused by tipFor saw nothing.
	c.audit(r, o.Username, "tip.viewed", t.ID, map[string]string{"from": clientIP(r)})
	events, err := c.db.TipEvents(ctx, t.ID)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	outbox, err := c.db.OutboxForTip(ctx, t.ID)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	thread, err := c.db.TipMessages(ctx, t.ID)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	d := tipData{Tip: t, Events: timeline(events), Outbox: outbox, Thread: thread, Next: c.allowed(o, t.Status),
		Mine: t.ClaimedBy == o.Username, Taken: t.ClaimedBy != "" && t.ClaimedBy != o.Username, CanReply: t.FollowUp,
		ContactGiven: slices.ContainsFunc(all, func(f flows.Field) bool { return f.Contact }),
		Deadline:     c.deadlineOf(clock{Created: t.CreatedAt, Urgency: t.Urgency, Status: t.Status, Complex: t.Complex, Extended: t.Extended}, time.Now())}
	d.Fields, d.Distress, d.Referrals, d.UnitView = fields, distress, refs, unitOfficer(o)
	d.Canned = canned(t, refs)
	if !unitOfficer(o) { // a unit sees only what was referred to it: no links to the rest
		if d.Duplicates, d.DuplicateOf, err = c.db.Duplicates(ctx, t.ID); err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
			return
		}
	}
	for _, ref := range d.Duplicates { // a merged report's thread carries both
		if dup, err := c.db.TipByReference(ctx, ref); err == nil {
			if more, err := c.db.TipMessages(ctx, dup.ID); err == nil {
				d.Thread = append(d.Thread, more...)
			}
		}
	}
	if !unitOfficer(o) {
		items, err := c.db.TipMedia(ctx, t.ID)
		if err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
			return
		}
		d.Media, d.Originals = mediaItems(items), supervises(o)
	}
	if d.Notes, err = c.db.Notes(ctx, t.ID); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	if unitOfficer(o) {
		// A unit sees what was shared with it: not the reporter's
		// messages, what we sent them, the audit trail, or the intake's
		// notes (which may hold what the reporter said) — only notes of
		// its own officers.
		d.Thread, d.Outbox, d.Events, d.CanReply = nil, nil, nil, false
		d.Referrals = slices.DeleteFunc(slices.Clone(refs), func(ref storage.Referral) bool { return ref.UnitName != o.Unit })
		if d.Notes, err = c.unitNotes(ctx, o.Unit, d.Notes); err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
			return
		}
	} else {
		reqs, err := c.db.DataRequests(ctx, t.ID)
		if err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
			return
		}
		d.Requests = c.requestsData(r, reqs, "tip")
		if t.Channel == "sms" {
			if d.OptedOut, err = c.db.TipSenderOptedOut(ctx, t.ID); err != nil {
				c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
				return
			}
		}
		if d.SameSender, err = c.db.SameSender(ctx, t.ID); err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
			return
		}
	}
	slices.SortStableFunc(d.Thread, func(a, b storage.TipMessage) int { return a.CreatedAt.Compare(b.CreatedAt) })
	if supervises(o) {
		if d.Officers, err = c.db.Officers(ctx); err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
			return
		}
	}
	if !unitOfficer(o) {
		units, err := c.db.Units(ctx)
		if err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
			return
		}
		for _, u := range units {
			urgent := needsReason(t, u.Kind)
			d.Units = append(d.Units, unitChoice{Unit: u, Allowed: referable(t, u.Kind), Emergency: urgent, Reason: refusal(t, u.Kind)})
			d.Emergency = d.Emergency || urgent
		}
		d.CanRefer, d.Shareable, d.CanFlag = true, all, true
		d.CanForward = c.mayForward(o, t)
		d.Draft = c.popReferDraft(r, t.Reference)
		d.NoUnit = !slices.ContainsFunc(d.Units, func(u unitChoice) bool { return u.Allowed })
	}
	c.render(w, r, http.StatusOK, "tip", d)
}

func (c *Console) claim(w http.ResponseWriter, r *http.Request) {
	t, ok := c.tipFor(w, r)
	if !ok {
		return
	}
	err := c.db.Claim(r.Context(), t.ID, officer(r).Username)
	switch {
	case errors.Is(err, storage.ErrConflict):
		c.fail(w, r, http.StatusConflict, "console.err.taken")
		return
	case err != nil:
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	http.Redirect(w, r, "/tips/"+t.Reference, http.StatusSeeOther)
}

func (c *Console) release(w http.ResponseWriter, r *http.Request) {
	t, ok := c.tipFor(w, r)
	if !ok {
		return
	}
	if err := c.db.Release(r.Context(), t.ID, officer(r).Username); err != nil {
		c.fail(w, r, http.StatusConflict, "console.err.not_yours")
		return
	}
	http.Redirect(w, r, "/queue", http.StatusSeeOther)
}

// changeStatus moves a report on, along the allowed transitions; a reporter
// who allowed messages is told when it is forwarded or closed.
func (c *Console) changeStatus(w http.ResponseWriter, r *http.Request) {
	t, ok := c.tipFor(w, r)
	if !ok {
		return
	}
	o := officer(r)
	to := r.PostFormValue("status")
	if !slices.Contains(c.allowed(o, t.Status), to) {
		c.fail(w, r, http.StatusBadRequest, "console.err.transition")
		return
	}
	if t.ClaimedBy != o.Username && o.Role == "officer" {
		c.fail(w, r, http.StatusConflict, "console.err.not_yours")
		return
	}
	var of storage.Tip
	if to == "duplicate" {
		// A duplicate names the report it repeats.
		ref, err := flows.ParseReference(r.PostFormValue("of"))
		if err == nil {
			of, err = c.db.TipByReference(r.Context(), string(ref))
		}
		if err != nil || of.ID == t.ID {
			c.refuse(w, r, t, "console.err.duplicate_of")
			return
		}
	}
	notice, _ := c.engine.StatusNotice(t.Language, flowsRef(t.Reference), to)
	_, err := c.db.ChangeTipStatus(r.Context(), t.ID, to, o.Username, notice)
	switch {
	case errors.Is(err, storage.ErrNotReferred):
		// Forwarded means handed to a unit: refer it first. Nothing changed.
		c.refuse(w, r, t, "console.tip.refer_first")
		return
	case err != nil:
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	if of.ID != 0 {
		if err := c.db.MarkDuplicate(r.Context(), t.ID, of.ID); err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
			return
		}
		c.audit(r, o.Username, "tip.merged", t.ID, map[string]string{"into": of.Reference})
	}
	c.flash(r, "console.tip.status_changed", nil)
	http.Redirect(w, r, "/tips/"+t.Reference, http.StatusSeeOther)
}

// maxReply caps an officer's message: a few SMS at most.
const maxReply = 1000

// reply writes to the reporter through the outbox, on the channel they
// used, only where they allowed it; the officer never learns who they are.
func (c *Console) reply(w http.ResponseWriter, r *http.Request) {
	t, ok := c.tipFor(w, r)
	if !ok {
		return
	}
	if unitOfficer(officer(r)) { // the intake speaks with the reporter
		c.fail(w, r, http.StatusForbidden, "console.err.intake_only")
		return
	}
	body, ok := formText(r.PostFormValue("body"), maxReply, false)
	if !ok {
		c.fail(w, r, http.StatusBadRequest, "console.err.reply_length")
		return
	}
	_, err := c.db.QueueFollowUp(r.Context(), t.ID, officer(r).Username, body)
	switch {
	case errors.Is(err, storage.ErrNoFollowUp):
		c.fail(w, r, http.StatusConflict, "console.err.no_followup")
		return
	case err != nil:
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	c.flash(r, "console.tip.reply_queued", nil)
	http.Redirect(w, r, "/tips/"+t.Reference, http.StatusSeeOther)
}

// assign gives the report to an officer: a supervisor's decision.
func (c *Console) assign(w http.ResponseWriter, r *http.Request) {
	t, o, ok := c.supervisorTip(w, r)
	if !ok {
		return
	}
	if err := c.db.Assign(r.Context(), t.ID, r.PostFormValue("to"), o.Username); err != nil {
		c.fail(w, r, http.StatusBadRequest, "console.err.no_officer")
		return
	}
	c.flash(r, "console.tip.assigned", nil)
	http.Redirect(w, r, "/tips/"+t.Reference, http.StatusSeeOther)
}

// auditPage lets supervisors read the audit log: who saw or changed what,
// when, from where.
func (c *Console) auditPage(w http.ResponseWriter, r *http.Request) {
	if !supervises(officer(r)) {
		c.fail(w, r, http.StatusForbidden, "console.err.supervisors")
		return
	}
	q := r.URL.Query()
	f := storage.AuditFilter{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action"))}
	if code := strings.TrimSpace(q.Get("code")); code != "" {
		if ref, err := flows.ParseReference(code); err == nil {
			if t, err := c.db.TipByReference(r.Context(), string(ref)); err == nil {
				f.TipID = t.ID
			}
		}
		if f.TipID == 0 {
			f.TipID = -1 // no such report: nothing matches
		}
	}
	entries, err := c.db.AuditLog(r.Context(), f)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	c.audit(r, officer(r).Username, "audit.viewed", 0, nil)
	c.render(w, r, http.StatusOK, "audit", map[string]any{"Entries": entries, "Actor": f.Actor, "Action": f.Action, "Code": q.Get("code")})
}

// decisionClock lets a supervisor mark a report complex (2 months to
// decide) or extend it once (2 months more).
func (c *Console) decisionClock(w http.ResponseWriter, r *http.Request) {
	t, o, ok := c.supervisorTip(w, r)
	if !ok {
		return
	}
	if err := c.db.SetDecisionClock(r.Context(), t.ID, r.PostFormValue("clock"), o.Username); err != nil {
		c.fail(w, r, http.StatusConflict, "console.err.clock")
		return
	}
	http.Redirect(w, r, "/tips/"+t.Reference, http.StatusSeeOther)
}

// maxNote caps a note for colleagues.
const maxNote = 4000

// note records what an officer did or found, for colleagues.
func (c *Console) note(w http.ResponseWriter, r *http.Request) {
	t, ok := c.tipFor(w, r)
	if !ok {
		return
	}
	body, ok := formText(r.PostFormValue("note"), maxNote, false)
	if !ok {
		c.fail(w, r, http.StatusBadRequest, "console.err.note_length")
		return
	}
	if err := c.db.AddNote(r.Context(), t.ID, officer(r).Username, body); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	http.Redirect(w, r, "/tips/"+t.Reference, http.StatusSeeOther)
}

// supervisorTip finds the report a path names for a supervisor's action,
// answering 404 or 403 itself.
func (c *Console) supervisorTip(w http.ResponseWriter, r *http.Request) (storage.Tip, storage.Officer, bool) {
	t, ok := c.tipFor(w, r)
	if !ok {
		return t, storage.Officer{}, false
	}
	o := officer(r)
	if !supervises(o) {
		c.fail(w, r, http.StatusForbidden, "console.err.supervisors")
		return t, o, false
	}
	return t, o, true
}

// maxFlagReason keeps a flag's reason to a line colleagues read at a glance.
const maxFlagReason = 200

// flagSender marks the report's sender as spam or abusive for some days:
// their reports still come in and are queued, after the others of the same
// urgency, labelled. The officer never sees who the sender is. Audited.
func (c *Console) flagSender(w http.ResponseWriter, r *http.Request) {
	t, ok := c.tipFor(w, r)
	if !ok {
		return
	}
	o := officer(r)
	if unitOfficer(o) {
		c.fail(w, r, http.StatusForbidden, "console.err.flag_who")
		return
	}
	kind := r.PostFormValue("kind")
	reason, reasonOK := formText(r.PostFormValue("reason"), maxFlagReason, false)
	days, err := strconv.Atoi(r.PostFormValue("days"))
	if err != nil || days < 1 || days > storage.MaxFlagDays || !slices.Contains(storage.FlagKinds, kind) || !reasonOK {
		c.fail(w, r, http.StatusBadRequest, "console.err.flag")
		return
	}
	if err := c.db.SetSenderFlag(r.Context(), t.ID, kind, reason, o.Username, days); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	c.flash(r, "console.flag.flagged", nil)
	http.Redirect(w, r, "/tips/"+t.Reference, http.StatusSeeOther)
}

// unflagSender clears the flag on the report's sender before it runs out.
// Audited.
func (c *Console) unflagSender(w http.ResponseWriter, r *http.Request) {
	t, ok := c.tipFor(w, r)
	if !ok {
		return
	}
	o := officer(r)
	if unitOfficer(o) {
		c.fail(w, r, http.StatusForbidden, "console.err.flag_who")
		return
	}
	err := c.db.ClearSenderFlag(r.Context(), t.ID, o.Username)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		c.fail(w, r, http.StatusConflict, "console.err.no_flag")
		return
	case err != nil:
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	c.flash(r, "console.flag.cleared", nil)
	http.Redirect(w, r, "/tips/"+t.Reference, http.StatusSeeOther)
}

// unitNotes keeps the notes written by officers of unit.
func (c *Console) unitNotes(ctx context.Context, unit string, notes []storage.Note) ([]storage.Note, error) {
	officers, err := c.db.Officers(ctx)
	if err != nil {
		return nil, err
	}
	ours := map[string]bool{}
	for _, o := range officers {
		if o.Unit == unit {
			ours[o.Username] = true
		}
	}
	return slices.DeleteFunc(notes, func(n storage.Note) bool { return !ours[n.Officer] }), nil
}
