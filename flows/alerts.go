package flows

import (
	"sort"
	"strings"
	"time"
)

// AlertInfo is what an alert to the officers' group may say about a report:
// its code, kind, category, urgency and age, and a link to the console.
// Never free text from the reporter, never anything that identifies them.
type AlertInfo struct {
	Reference Reference
	Kind      Kind
	Category  string // an option ID of the report flow's category question
	Urgent    bool
	Age       time.Duration
	Link      string
	Deadline  bool // the report's deadline is near and nobody took it
}

// Alert writes an alert for the officers' group, in Vietnamese.
func (e *Engine) Alert(a AlertInfo) string {
	c := &turn{e: e, s: Session{Lang: "vi"}}
	kind := c.t("alert.kind_tip", nil)
	if a.Kind == KindHelp {
		kind = c.t("alert.kind_help", nil)
	}
	category := c.t("common.not_given", nil)
	if a.Category != "" {
		if id := categoryLabel(a.Category); id != "" {
			category = c.t(id, nil)
		}
	}
	urgency := c.t("alert.normal", nil)
	if a.Urgent {
		urgency = c.t("alert.urgent", nil)
	}
	id := "alert.new"
	if a.Deadline {
		id = "alert.deadline"
	}
	return c.t(id, map[string]any{
		"Reference": string(a.Reference), "Kind": kind, "Category": category, "Urgency": urgency,
		"Age": c.age(a.Age), "Link": a.Link,
	})
}

// AlarmAlert writes the alert for a person who raised the alarm and has not
// sent their request yet: which channel, and when it will be filed if they
// fall silent. Nothing about who they are or what they wrote: the group is
// a chat on officers' phones.
func (e *Engine) AlarmAlert(channel string, silence time.Duration, link string) string {
	c := &turn{e: e, s: Session{Lang: "vi"}}
	return c.t("alert.alarm", map[string]any{"Channel": c.t("console.channel."+channel, nil), "Silence": c.age(silence), "Link": link})
}

// contactStep says whether a question asks how or when to reach the person.
func contactStep(id string) bool {
	return reachesPerson(id) || id == "followup_when" || id == "contact_when"
}

// noWords are the ways people write "no" (folded), which answer a question
// of how or when to reach them with nothing.
var noWords = map[string]bool{"khong": true, "ko": true, "k": true, "kg": true, "khong can": true, "thoi": true,
	"khong co": true, "khong dau": true, "no": true, "none": true, "khong muon": true, "thoi khoi": true, "ko can": true}

// reachesPerson says whether an answer is a way to reach the person (a
// phone number, a Zalo name, when to call): it identifies them.
func reachesPerson(key string) bool {
	return strings.HasPrefix(key, "contact_") || key == "now_contact"
}

// categoryLabel finds the label of a category option.
func categoryLabel(id string) string {
	for _, st := range reportFlow().steps {
		if st.id != "category" {
			continue
		}
		for _, o := range st.options {
			if o.id == id {
				return o.label
			}
		}
	}
	return ""
}

// PrivacyNotice is the full privacy notice in lang, with how long an
// unsent conversation is kept.
func (e *Engine) PrivacyNotice(lang string) string {
	c := &turn{e: e, s: Session{Lang: lang}}
	return c.t("privacy.body", map[string]any{"Forget": c.span(e.opts.Forget)})
}

// span says a configured duration as people say it: "1 ngày", "12 giờ".
func (c *turn) span(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return c.t("alert.age_days", map[string]any{"Count": int(d.Hours() / 24)})
	}
	return c.age(d)
}

// age says how old a report is, roughly: "12 phút", "3 giờ", "2 ngày".
func (c *turn) age(d time.Duration) string {
	switch {
	case d < time.Hour:
		return c.t("alert.age_minutes", map[string]any{"Count": int(d.Minutes())})
	case d < 48*time.Hour:
		return c.t("alert.age_hours", map[string]any{"Count": int(d.Hours())})
	}
	return c.t("alert.age_days", map[string]any{"Count": int(d.Hours() / 24)})
}

// officerLabel is a question's name as an officer reads it.
func (c *turn) officerLabel(st *step) string {
	switch {
	case c.e.cat.Has("officer.label." + st.id):
		// The reporter's summary says "Lời bạn nhắn"; an officer reads
		// the same answer as what the person wrote.
		return c.t("officer.label."+st.id, nil)
	case st.label != "":
		return c.t(st.label, nil)
	case st.prompt != "":
		return c.t(st.prompt, nil)
	}
	return st.id
}

// LabelOf is an answer's name as an officer reads it (as Describe gives
// it), from the report's flow or else the help flow; the key itself when
// neither asks it.
func (e *Engine) LabelOf(key string) string {
	key = strings.TrimSuffix(key, "_note") // words beside a choice: named as the choice
	c := &turn{e: e, s: Session{Lang: "vi"}}
	for _, name := range []string{reportFlowName, helpFlowName} {
		f := e.flows[name]
		for i := range f.steps {
			if f.steps[i].id == key {
				return c.officerLabel(&f.steps[i])
			}
		}
	}
	return key
}

// Field is one answer of a finished report, as an officer reads it.
type Field struct {
	Key, Label, Value string
	// Contact: the answer is a way to reach the person, so it identifies
	// them; a referral shares it only when the officer ticks it.
	Contact bool
}

// Describe lists a report's answers in the order they were asked, each with
// its question's name and, for choices, the words of the options chosen
// (Vietnamese: officers read Vietnamese). Keys no question knows come last,
// as they are.
func (e *Engine) Describe(kind Kind, details map[string]string) []Field {
	c := &turn{e: e, s: Session{Lang: "vi", Answers: details}}
	f := e.flows[reportFlowName]
	if kind == KindHelp {
		f = e.flows[helpFlowName]
	}
	done := map[string]bool{}
	var out []Field
	add := func(key, label, value string, contact bool) {
		if value != "" && !done[key] {
			out = append(out, Field{Key: key, Label: label, Value: value, Contact: contact})
		}
		done[key] = true
	}
	for i := range f.steps {
		st := &f.steps[i]
		v, ok := details[st.id]
		if !ok || st.input == inputSummary {
			continue
		}
		label := c.officerLabel(st)
		value := v
		if st.input == inputPick || st.input == inputMulti {
			value = c.answerText(st)
		}
		add(st.id, label, value, reachesPerson(st.id))
		if note := details[st.id+"_note"]; note != "" {
			add(st.id+"_note", label, note, reachesPerson(st.id))
		}
	}
	keys := make([]string, 0, len(details))
	for k := range details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == UnfinishedKey || k == WipedKey {
			continue // said on top of the report, not as an answer
		}
		add(k, k, details[k], reachesPerson(k))
	}
	return out
}
