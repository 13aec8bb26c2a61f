package flows

import (
	"maps"

	"tinbao/locales"
)

// A flow is a list of steps; each step asks one thing and says what input it
// takes. Branching flows give a step a next func.
type flow struct {
	name  string
	kind  Kind
	ack   string // message ID of the acknowledgement
	steps []step
}

type inputKind int

const (
	inputText    inputKind = iota // free text
	inputChoice                   // one of options
	inputSummary                  // the answers read back, with Gửi and Huỷ
)

type step struct {
	id       string
	prompt   string // message ID
	input    inputKind
	optional bool     // offers Bỏ qua
	options  []option // for inputChoice
	// next names the following step; nil means the next one in the list.
	next func(s Session) string
}

type option struct{ id, label string }

func (f *flow) step(id string) (int, *step) {
	for i := range f.steps {
		if f.steps[i].id == id {
			return i, &f.steps[i]
		}
	}
	return -1, nil
}

// prompt asks a step's question with the choices it allows.
func (f *flow) prompt(c *turn, st *step) {
	var choices []Choice
	for _, o := range st.options {
		choices = append(choices, c.choice(o.id, o.label))
	}
	if st.optional {
		choices = append(choices, c.choice(choiceSkip, "button.skip"))
	}
	data := map[string]any{}
	if st.input == inputSummary {
		for _, s := range f.steps {
			if s.input == inputSummary {
				continue
			}
			v, ok := c.s.Answers[s.id]
			if !ok {
				v = c.t("common.not_given", nil)
			}
			data[titleCase(s.id)] = v
		}
		choices = append(choices, c.choice(choiceSend, "button.send"), c.choice(choiceCancel, "button.cancel"))
	}
	c.say(c.t(st.prompt, data), choices...)
}

// matchChoice turns typed text into one of the step's choices when it is the
// label of one ("bo qua", "Gửi"), so channels without buttons work too.
func (f *flow) matchChoice(c *turn, st *step) string {
	if c.in.Choice != "" {
		return c.in.Choice
	}
	key := locales.Fold(c.in.Text)
	if key == "" {
		return ""
	}
	candidates := map[string]string{}
	for _, o := range st.options {
		candidates[o.id] = o.label
	}
	if st.optional {
		candidates[choiceSkip] = "button.skip"
	}
	if st.input == inputSummary {
		candidates[choiceSend] = "button.send"
	}
	for id, label := range candidates {
		if locales.Fold(c.t(label, nil)) == key {
			return id
		}
	}
	return ""
}

// handle takes the input as the answer to the current step.
func (f *flow) handle(c *turn) {
	i, st := f.step(c.s.Step)
	if st == nil { // a session from an older version of the flow
		c.start(f.name)
		return
	}
	if c.s.Answers == nil { // an empty map does not survive the session's JSON
		c.s.Answers = map[string]string{}
	}
	choice := f.matchChoice(c, st)
	switch {
	case st.input == inputSummary:
		if choice != choiceSend {
			c.say(c.t("common.choose", nil))
			f.prompt(c, st)
			return
		}
		f.submit(c)
		return
	case choice == choiceSkip && st.optional:
		delete(c.s.Answers, st.id)
	case st.input == inputChoice:
		if !hasOption(st, choice) {
			c.say(c.t("common.choose", nil))
			f.prompt(c, st)
			return
		}
		c.s.Answers[st.id] = choice
	default:
		text, ok := c.textAnswer()
		if !ok {
			return
		}
		c.s.Answers[st.id] = text
	}
	next := i + 1
	if st.next != nil {
		next, _ = f.step(st.next(c.s))
	}
	c.s.Step = f.steps[next].id
	f.prompt(c, &f.steps[next])
}

func hasOption(st *step, id string) bool {
	for _, o := range st.options {
		if o.id == id {
			return true
		}
	}
	return false
}

// submit finishes the flow: the report goes out to be committed, and the
// session is cleared. The acknowledgement is not said here: it is sent
// through the outbox once the report is committed.
func (f *flow) submit(c *turn) {
	c.report = &Report{
		Kind:      f.kind,
		Reference: c.in.Reference,
		Urgent:    c.s.Urgent,
		Lang:      c.s.Lang,
		Details:   maps.Clone(c.s.Answers),
		Ack:       c.t(f.ack, map[string]any{"Reference": string(c.in.Reference)}),
	}
	c.s = Session{Lang: c.s.Lang}
}

// titleCase turns a step ID into its template field name: "where" → "Where".
func titleCase(id string) string {
	if id == "" {
		return id
	}
	b := []byte(id)
	if b[0] >= 'a' && b[0] <= 'z' {
		b[0] -= 'a' - 'A'
	}
	return string(b)
}
