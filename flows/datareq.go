package flows

// Requests about one's own data, with only a reference code (Personal Data
// Protection Law 91/2025, Decree 356/2025: see, withdraw consent, erase;
// answered within 2 working days). The conversation asks for the code, checks
// its symbol, and offers four things; it never looks anything up itself: the
// request goes out in Result.Data and the caller answers with DataAnswer.
// Until then every code, known or not, gets the very same words, so that the
// conversation never tells whether a code exists.

import (
	"errors"
	"strings"
)

const dataFlowName = "data"

// Kinds of data request, as stored.
const (
	DataAccess           = "access"            // see what we hold (a summary of classes, never contents)
	DataWithdrawFollowUp = "withdraw_followup" // stop messages to me
	DataWithdrawSharing  = "withdraw_sharing"  // stop sharing with support services
	DataErasure          = "erasure"           // erase this report
)

// DataKinds lists the kinds in the order they are offered.
var DataKinds = []string{DataAccess, DataWithdrawFollowUp, DataWithdrawSharing, DataErasure}

// DataRequest is a request the person made about the report a code names.
type DataRequest struct {
	Reference Reference
	Kind      string
}

// Holding is what we hold about a report, in classes only: enough for the
// person to know, nothing for someone else holding the code to learn the
// story from.
type Holding struct {
	Classes   []string // of HoldingClasses, in that order
	Media     int      // photos and files
	WriteBack bool     // we may write to the person
	Shared    int      // referrals made to units
	Status    string   // the report's status (said vaguely)
	Erased    bool     // only the bare row is left
	Pending   []string // kinds of data requests still waiting for a person
	Refused   []string // reason codes of erasures refused
}

// holdingClasses maps answers to the class of data they are, in the order
// a summary names them. Keys not listed (choices such as "safe", "go_on")
// say nothing a summary needs.
var holdingClasses = []struct {
	class string
	keys  []string
}{
	{"story", []string{"what", "story"}},
	{"place", []string{"where", "now_where", "country"}},
	{"when", []string{"when"}},
	{"people", []string{"people", "child", "who"}},
	{"needs", []string{"needs", "needs_note"}},
	{"contact", []string{"contact_how", "now_contact", "contact_when", "followup_when"}},
	{"consents", []string{"consent_police", "consent_support", "consent_followup", "consents"}},
}

// HoldingClasses names the classes of data a report's answers hold, without
// their contents: "story", "place", "when", "people", "needs", "contact",
// "consents", and "distress" when words that raised an alarm are kept.
func HoldingClasses(details map[string]string, distress bool) []string {
	var out []string
	for _, hc := range holdingClasses {
		for _, k := range hc.keys {
			if details[k] != "" {
				out = append(out, hc.class)
				break
			}
		}
	}
	if distress {
		out = append(out, "distress")
	}
	return out
}

// Choice IDs of the data conversation.
const (
	choiceData         = "m:data"
	choiceDataSee      = "d:see"
	choiceDataStopMsg  = "d:stopmsg"
	choiceDataStopShr  = "d:stopshare"
	choiceDataErase    = "d:erase"
	choiceDataEraseYes = "d:erase!"
)

// dataOptions pairs each offered choice with the request it makes.
var dataOptions = []struct{ id, label, kind string }{
	{choiceDataSee, "data.see", DataAccess},
	{choiceDataStopMsg, "data.stop_messages", DataWithdrawFollowUp},
	{choiceDataStopShr, "data.stop_sharing", DataWithdrawSharing},
	{choiceDataErase, "data.erase", DataErasure},
}

// startData begins the conversation, with the code if it came with the
// command (DU LIEU TB-…).
func (c *turn) startData(rest string) {
	c.reset()
	c.s.Flow, c.s.Step = dataFlowName, "code"
	if rest != "" {
		c.dataCode(rest)
		return
	}
	c.say(c.t("data.ask", nil))
}

// dataStep takes an answer within the data conversation.
func (c *turn) dataStep() {
	switch c.s.Step {
	case "pick":
		c.dataPick()
	case "confirm":
		c.dataConfirm()
	default:
		c.dataCode(c.in.Text)
	}
}

// dataCode checks a typed code the way a lookup does: the check symbol
// first. Nothing is looked up here, so a code that does not exist goes on
// exactly as one that does.
func (c *turn) dataCode(text string) {
	ref, err := ParseReference(text)
	switch {
	case err == nil:
		c.s.Step, c.s.Answers = "pick", map[string]string{"code": string(ref)}
		c.dataOffer()
	case errors.Is(err, ErrRefCheck):
		c.say(c.t("status.typo", nil))
	default:
		c.say(c.t("data.format", nil))
	}
}

func (c *turn) dataChoices() []Choice {
	out := make([]Choice, len(dataOptions))
	for i, o := range dataOptions {
		out[i] = c.choice(o.id, o.label)
	}
	return out
}

func (c *turn) dataOffer() {
	c.ask(c.t("data.offer", map[string]any{"Reference": c.s.Answers["code"]}), c.dataChoices()...)
}

func (c *turn) dataPick() {
	choice := c.pick(c.dataChoices())
	if choice == choiceDataErase {
		// Erasure cannot be undone: say plainly what it means, once.
		c.s.Step = "confirm"
		c.ask(c.t("data.erase_confirm", nil), c.eraseChoices()...)
		return
	}
	for _, o := range dataOptions {
		if o.id == choice {
			c.dataRequest(o.kind)
			return
		}
	}
	c.say(c.t("common.choose", nil))
	c.dataOffer()
}

func (c *turn) eraseChoices() []Choice {
	return []Choice{c.choice(choiceDataEraseYes, "data.erase_yes"), c.choice(choiceBack, "button.back")}
}

func (c *turn) dataConfirm() {
	switch c.pick(c.eraseChoices()) {
	case choiceDataEraseYes:
		c.dataRequest(DataErasure)
	case choiceBack:
		c.s.Step = "pick"
		c.dataOffer()
	default:
		c.say(c.t("common.choose", nil))
		c.ask(c.t("data.erase_confirm", nil), c.eraseChoices()...)
	}
}

// dataAgain asks the data conversation's pending question once more.
func (c *turn) dataAgain() {
	switch c.s.Step {
	case "pick":
		c.dataOffer()
	case "confirm":
		c.ask(c.t("data.erase_confirm", nil), c.eraseChoices()...)
	default:
		c.say(c.t("data.ask", nil))
	}
}

// dataRequest ends the conversation and hands the request to the caller.
func (c *turn) dataRequest(kind string) {
	ref := Reference(c.s.Answers["code"])
	c.reset()
	c.data = &DataRequest{Reference: ref, Kind: kind}
}

// DataAnswer answers a data request the caller handled for Result.Data, on
// channel. h is what we hold, for an access request by the person who may
// see it; nil both for a code that does not exist and for one they may not
// see: the two look the same. Other requests get the same words whether or
// not anything was recorded. limited is true when the sender asked too often.
func (e *Engine) DataAnswer(lang, channel string, req DataRequest, h *Holding, limited bool) Reply {
	c := &turn{e: e, s: Session{Lang: lang}, in: Input{Channel: channel}}
	ref := map[string]any{"Reference": string(req.Reference)}
	switch {
	case limited:
		return c.endReply(c.t("data.limited", nil))
	case req.Kind == DataAccess && h == nil:
		return c.endReply(c.t("data.none", ref))
	case req.Kind == DataAccess:
		return c.endReply(c.holding(req.Reference, *h))
	case req.Kind == DataWithdrawFollowUp:
		return c.endReply(c.t("data.ack_followup", nil))
	case req.Kind == DataWithdrawSharing:
		return c.endReply(c.t("data.ack_sharing", nil))
	case channel == "web":
		// A closed page cannot be told: say how to come back for the answer.
		return c.endReply(c.t("data.ack_erasure_web", nil))
	}
	return c.endReply(c.t("data.ack_erasure", nil))
}

// holding says what we hold in plain words: classes and counts, never a
// word of what the person wrote.
func (c *turn) holding(ref Reference, h Holding) string {
	data := map[string]any{"Reference": string(ref)}
	if h.Erased {
		return c.t("data.erased", data)
	}
	var items []string
	for _, class := range h.Classes {
		items = append(items, c.t("data.class."+class, nil))
	}
	if h.Media > 0 {
		items = append(items, c.t("data.media", map[string]any{"Count": h.Media}))
	}
	if h.WriteBack {
		items = append(items, c.t("data.write_back_yes", nil))
	} else {
		items = append(items, c.t("data.write_back_no", nil))
	}
	items = append(items, c.t("data.shared", map[string]any{"Count": h.Shared}))
	items = append(items, c.t("data.state."+vagueStatus(h.Status), nil))
	for _, kind := range h.Pending {
		items = append(items, c.t("data.pending."+kind, nil))
	}
	for _, reason := range h.Refused {
		items = append(items, c.t("data.refused."+reason, nil))
	}
	sep, head := "\n• ", c.t("data.holding", data)
	if c.in.Channel == "sms" {
		sep = "; " // one SMS: a line, not a list
		return head + " " + strings.Join(items, sep) + ". " + c.t("data.holding_footer", nil)
	}
	return head + sep + strings.Join(items, sep) + "\n" + c.t("data.holding_footer", nil)
}

// vagueStatus says a status the way a lookup does: received, being handled,
// handed on, or closed.
func vagueStatus(status string) string {
	switch status {
	case "in_review", "verifying":
		return "checking"
	case "forwarded":
		return "forwarded"
	case "resolved", "unfounded", "duplicate":
		return "closed"
	}
	return "received"
}

// Reasons a supervisor may give for refusing an erasure, in the order the
// console offers them.
var ErasureRefusals = []string{"law_requires_keeping", "active_investigation"}

// DataNotice is what the person who asked for an erasure is told once a
// supervisor decided: erased, or refused with the reason in plain words.
// ok is false for decisions that send nothing.
func (e *Engine) DataNotice(lang, channel string, ref Reference, kind, decision, reason string) (string, bool) {
	if kind != DataErasure {
		return "", false
	}
	c := &turn{e: e, s: Session{Lang: lang}, in: Input{Channel: channel}}
	data := map[string]any{"Reference": string(ref)}
	switch decision {
	case "done":
		return c.t("data.notice_erased", data), true
	case "refused":
		for _, r := range ErasureRefusals {
			if r == reason {
				return c.t("data.notice_refused_"+reason, data), true
			}
		}
	}
	return "", false
}
