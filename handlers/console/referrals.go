package console

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"tinbao/flows"
	"tinbao/storage"
)

// A unit officer works what was referred to their unit and sees only what
// was shared with it; the intake team (no unit) and supervisors see all.
func unitOfficer(o storage.Officer) bool { return o.Unit != "" && o.Role == "officer" }

// consentFor says which consent of a help request a referral to a unit
// needs: police, the Border Guard and the 111 line need the consent to pass
// it to them; health, legal aid and others the consent to share with support
// services. Tips need none: reporting to the authorities is what they are.
func consentFor(kind string) string {
	switch kind {
	case "police", "border_guard", "hotline":
		return "consent_police"
	}
	return "consent_support"
}

// referable says whether a report may go to a unit of this kind: never to
// support services once the person withdrew that consent (a data request),
// whatever kind of report it is.
func referable(t storage.Tip, unitKind string) bool {
	if sharingWithdrawn(t, unitKind) {
		return false
	}
	return t.Kind != "help" || t.Details[consentFor(unitKind)] == "yes" || emergency(t, unitKind)
}

// emergency says whether a help request may go to the police, the Border
// Guard or 111 without the person's consent, under the law's exception for
// protecting life: they said they were in danger now and were never asked
// (Gửi ngay skips the consents so that the request goes at once). Without
// it the most urgent request could go to no one and was sure to miss its
// deadline; so could one filed for them after they went silent. The
// officer must say why (kept as a note; the audit says it was an
// emergency). A person who was asked, and said no or skipped it, is heard.
func emergency(t storage.Tip, unitKind string) bool {
	neverAsked := t.Details["go_on"] == "send_now" || t.Details[flows.UnfinishedKey] == "yes"
	return t.Kind == "help" && t.Details["danger"] == "yes" && neverAsked && consentFor(unitKind) == "consent_police" &&
		t.Details["consent_police"] == ""
}

func sharingWithdrawn(t storage.Tip, unitKind string) bool {
	return t.SharingWithdrawn != nil && consentFor(unitKind) == "consent_support"
}

// refusal names why a report may not go to a unit of this kind ("" if it
// may), for the form and its error.
func refusal(t storage.Tip, unitKind string) string {
	switch {
	case sharingWithdrawn(t, unitKind):
		return "console.referral.withdrawn"
	case !referable(t, unitKind) && t.Details[consentFor(unitKind)] == "no":
		return "console.referral.refused" // they said no: not "not yet"
	case !referable(t, unitKind):
		return "console.referral.no_consent"
	}
	return ""
}

// referDraft is a referral form as the officer left it when it was
// refused, to fill it again; nil when there is none for this report.
type referDraft struct {
	Unit   int64
	Note   string
	Shared map[string]bool
}

// popReferDraft takes the draft kept for report ref (any other is dropped).
func (c *Console) popReferDraft(r *http.Request, ref string) *referDraft {
	ctx := r.Context()
	tip := c.sm.PopString(ctx, "refer_tip")
	unit, note, share := c.sm.PopString(ctx, "refer_unit"), c.sm.PopString(ctx, "refer_note"), c.sm.PopString(ctx, "refer_share")
	if tip == "" || tip != ref {
		return nil
	}
	d := &referDraft{Note: note, Shared: map[string]bool{}}
	d.Unit, _ = strconv.ParseInt(unit, 10, 64)
	for _, k := range strings.Split(share, ",") {
		d.Shared[k] = true
	}
	return d
}

// mayForward says whether o may move t to forwarded now (see changeStatus).
func (c *Console) mayForward(o storage.Officer, t storage.Tip) bool {
	return slices.Contains(c.allowed(o, t.Status), "forwarded") && (t.ClaimedBy == o.Username || o.Role != "officer")
}

// needsReason says whether a referral to a unit of this kind goes only
// under the emergency exception, and so needs the officer's reason.
func needsReason(t storage.Tip, unitKind string) bool {
	return emergency(t, unitKind) && t.Details[consentFor(unitKind)] != "yes"
}

type unitChoice struct {
	storage.Unit
	Allowed   bool
	Emergency bool   // allowed only under the emergency exception: a reason is needed
	Reason    string // message ID of why not
}

// maxEmergencyReason bounds the reason given for an emergency referral.
const maxEmergencyReason = 500

// refer hands the report to a unit with a note and exactly the answers the
// officer ticked; for a help request, only where the person consented.
func (c *Console) refer(w http.ResponseWriter, r *http.Request) {
	t, ok := c.tipFor(w, r)
	if !ok {
		return
	}
	o := officer(r)
	if unitOfficer(o) {
		c.fail(w, r, http.StatusForbidden, "console.err.not_intake")
		return
	}
	unitID, _ := strconv.ParseInt(r.PostFormValue("unit"), 10, 64)
	units, err := c.db.Units(r.Context())
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	i := slices.IndexFunc(units, func(u storage.Unit) bool { return u.ID == unitID })
	if i < 0 {
		c.fail(w, r, http.StatusBadRequest, "console.err.no_unit")
		return
	}
	if !referable(t, units[i].Kind) {
		msg := "console.err.no_consent"
		if sharingWithdrawn(t, units[i].Kind) {
			msg = "console.err.sharing_withdrawn"
		}
		c.fail(w, r, http.StatusForbidden, msg)
		return
	}
	note, ok := formText(r.PostFormValue("note"), maxReply, true)
	if !ok {
		c.fail(w, r, http.StatusBadRequest, "console.err.reply_length")
		return
	}
	var reason string
	if needsReason(t, units[i].Kind) {
		if reason, ok = formText(r.PostFormValue("emergency_reason"), maxEmergencyReason, false); !ok {
			// Back to the report, said there: an error page led to the
			// queue, away from the urgent request. What the officer chose
			// and wrote comes back with it: a form back at its defaults
			// (every answer ticked) shared more than meant when sent again.
			ctx := r.Context()
			c.sm.Put(ctx, "refer_tip", t.Reference)
			c.sm.Put(ctx, "refer_unit", strconv.FormatInt(unitID, 10))
			c.sm.Put(ctx, "refer_note", note)
			c.sm.Put(ctx, "refer_share", strings.Join(r.PostForm["share"], ","))
			c.refuse(w, r, t, "console.err.emergency_reason")
			return
		}
	}
	var shared []string
	for _, k := range r.PostForm["share"] {
		if _, ok := t.Details[k]; ok || (k == "distress" && len(t.Distress) > 0) {
			shared = append(shared, k)
		}
	}
	// Referred to the authorities (police, Border Guard, 111) is handed on:
	// the status says so in the same transaction, and the one-hour clock
	// stops (a referral left the report "due soon", charged to the unit,
	// until the officer also changed its status).
	forward := r.PostFormValue("forward") == "1" && consentFor(units[i].Kind) == "consent_police" && c.mayForward(o, t)
	said := "console.referral.sent"
	if forward {
		notice, _ := c.engine.StatusNotice(t.Language, flowsRef(t.Reference), "forwarded")
		_, err = c.db.ReferAndForward(r.Context(), t.ID, unitID, note, shared, o.Username, reason, notice)
		said = "console.referral.sent_forwarded"
	} else {
		_, err = c.db.Refer(r.Context(), t.ID, unitID, note, shared, o.Username, reason)
	}
	if err != nil { // nothing was done: sending the form again is safe
		c.log.WarnContext(r.Context(), "refer", "forward", forward, "err", err)
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	c.flash(r, said, nil)
	http.Redirect(w, r, "/tips/"+t.Reference, http.StatusSeeOther)
}

// acknowledge records that the receiving unit has the report.
func (c *Console) acknowledge(w http.ResponseWriter, r *http.Request) {
	t, ok := c.tipFor(w, r)
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	o := officer(r)
	err := c.db.AcknowledgeReferral(r.Context(), id, o.Username, o.Unit)
	switch {
	case errors.Is(err, storage.ErrConflict):
		c.fail(w, r, http.StatusConflict, "console.err.not_your_unit")
		return
	case err != nil:
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	http.Redirect(w, r, "/tips/"+t.Reference, http.StatusSeeOther)
}

// visible narrows a report to what a unit officer may see: the answers
// shared with their unit (and the alarm words, if shared). tipFor has
// already refused them a report not referred to their unit.
func visible(o storage.Officer, t storage.Tip, refs []storage.Referral, fields []flows.Field) ([]flows.Field, []flows.Distress) {
	if !unitOfficer(o) {
		return fields, t.Distress
	}
	shared := map[string]bool{}
	for _, ref := range refs {
		if ref.UnitName == o.Unit {
			for _, k := range ref.Shared {
				shared[k] = true
			}
		}
	}
	var out []flows.Field
	for _, f := range fields {
		if shared[f.Key] {
			out = append(out, f)
		}
	}
	var distress []flows.Distress
	if shared["distress"] {
		distress = t.Distress
	}
	return out, distress
}
