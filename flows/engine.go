package flows

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"tinbao/locales"
)

// A flow is a list of steps; each step asks one thing and says what input it
// takes. Steps that do not apply (a follow-up question, a Telegram-only
// question on SMS) say so in when.
type flow struct {
	name  string
	kind  Kind
	ack   string // message ID of the acknowledgement
	title string // message ID of the summary's first line
	steps []step
	// followUp says whether the finished report lets us write to the sender.
	followUp func(c *turn) bool
	// story is the step that keeps a person's own account (and the words
	// of a first message that told it).
	story string
	// finish, if set, completes the details of a finished report.
	finish func(c *turn, details map[string]string)
}

type inputKind int

const (
	inputText    inputKind = iota // free text (Bỏ qua where optional)
	inputPick                     // one of options
	inputMulti                    // several of options, then Xong
	inputMedia                    // photos and files, then Xong
	inputSummary                  // the answers read back: Gửi, Sửa, Huỷ
)

type step struct {
	id       string
	prompt   string // message ID of the question
	label    string // message ID of the field's name in the summary
	input    inputKind
	optional bool // offers Bỏ qua
	place    bool // a shared location answers it (kept coarse)
	// contact: it asks how and when to reach the person (see
	// continuesAtContact).
	contact bool
	// dangerYes: words of danger ("họ nhốt tôi") answer "yes" here.
	dangerYes bool
	// otherWords, for inputPick: the option words that pick no option
	// choose, kept beside it as the answer's note ("trung quoc" at a list
	// of three countries and Other), instead of "pick a number".
	otherWords string
	// story: the question stays open for more messages until Tiếp.
	story   bool
	options []option // for inputPick and inputMulti
	// when says whether the step applies; nil: always.
	when func(c *turn) bool
	// after runs once the step is answered; it may say things (the
	// emergency numbers) and return the ID of the step to go to instead of
	// the next one.
	after func(c *turn, answer string) string
}

// submitNow, returned by an after hook, sends the report as it is.
const submitNow = "!send"

type option struct {
	id, label string   // label is a message ID
	aliases   []string // folded words that also choose it ("co", "yes")
}

var (
	yes = option{id: "yes", label: "choice.yes", aliases: []string{"co", "c", "yes", "y", "dung", "dung roi", "dung vay", "vang", "vang a", "u", "uh", "ok", "co a", "co roi"}}
	no  = option{id: "no", label: "choice.no", aliases: []string{"khong", "k", "ko", "no", "n", "kg", "hong", "khong a"}}
)

func (f *flow) index(id string) int {
	for i := range f.steps {
		if f.steps[i].id == id {
			return i
		}
	}
	return -1
}

func (st *step) applies(c *turn) bool { return st.when == nil || st.when(c) }

// start begins a flow at its first step.
func (c *turn) start(f *flow) { c.startWith(f, "") }

// startWith begins a flow with words the person already wrote kept as its
// story (what happened; or, asking for help, their first message): this
// message's, or an opener kept while they chose.
func (c *turn) startWith(f *flow, keep string) {
	if keep == "" && c.danger && c.in.Text != "" && c.s.Flow == "" {
		keep = c.in.Text // "cứu tôi, họ không cho về": those words matter
	}
	joinNow := keep != ""
	switch told := c.pendingOpener(); {
	case keep == "":
		keep = c.s.Opener
	case told != "":
		// "co nguoi ru con toi…", then "viec nhe luong cao…": both.
		keep = clipRunes(told+"\n"+keep, MaxStoryRunes)
	}
	// Someone who changes their mind mid-way (a report, then "I need
	// help") keeps what they told and the alarm they raised.
	var carried []Distress
	urgent := c.danger
	if old, ok := c.e.flows[c.s.Flow]; ok && old != f && !c.idle() {
		if keep == "" && old.story != "" {
			keep = c.s.Answers[old.story]
		}
		carried, urgent = c.s.Distress, urgent || c.s.Urgent
	}
	// Danger words in this very message make the new report urgent; an
	// earlier, abandoned conversation's urgency does not carry over.
	c.s = Session{Lang: c.s.Lang, Abroad: c.s.Abroad, Flow: f.name, Answers: map[string]string{}, Urgent: urgent,
		Distress: carried}
	if c.alarm != nil && len(carried) == 0 {
		c.s.Distress = []Distress{*c.alarm}
	}
	if urgent {
		c.s.Answers["danger"] = "yes" // said in words: not asked again
	}
	if keep != "" && f.story != "" {
		c.s.Answers[f.story] = keep
		if joinNow {
			c.answered(&f.steps[f.index(f.story)])
			c.say(c.t("opener.kept", nil)) // (a kept opener was thanked for already)
		}
	}
	c.goTo(f, 0)
}

// goTo asks the first step from i on that applies and is not answered yet
// (a story kept from the first message, danger already said in words).
func (c *turn) goTo(f *flow, i int) {
	for ; i < len(f.steps); i++ {
		st := &f.steps[i]
		if !st.applies(c) || (st.input != inputSummary && c.s.Answers[st.id] != "" && !c.s.Editing) {
			continue
		}
		c.s.Step = st.id
		c.prompt(f, st)
		return
	}
	c.submit(f) // unreachable while every flow ends with a summary
}

// offered lists a step's choices in the order they are shown; on SMS the
// digits count in this order.
func (c *turn) offered(f *flow, st *step) []Choice {
	var out []Choice
	selected := strings.Split(c.s.Answers[st.id], ",")
	for _, o := range st.options {
		ch := c.choice(o.id, o.label)
		if st.input == inputMulti && slices.Contains(selected, o.id) && c.in.Channel != "sms" {
			ch.Label = "✓ " + ch.Label
		}
		out = append(out, ch)
	}
	switch st.input {
	case inputMulti:
		if c.in.Channel == "sms" {
			return out // numbers only; 0 finishes (a list that costs one segment)
		}
		out = append(out, c.choice(choiceDone, "button.done"))
	case inputMedia:
		out = append(out, c.choice(choiceDone, "button.done"))
	case inputSummary:
		out = append(out, c.choice(choiceSend, "button.send"), c.choice(choiceEdit, "button.edit"),
			c.choice(choiceCancel, "button.cancel"))
	}
	if st.optional && st.input != inputMedia && !(c.s.Editing && st.story) {
		// (While its story is edited, skipping would throw it away; what
		// is told is only added to.)
		out = append(out, c.choice(choiceSkip, "button.skip"))
	}
	if c.s.Editing && st.input != inputSummary {
		out = append(out, c.choice(choiceKeep, "button.keep"))
	}
	return out
}

// labelIDs maps the choices a step offers to their message IDs, to match
// what people type against every language's labels.
func (c *turn) labelIDs(st *step) map[string]string {
	ids := map[string]string{choiceSkip: "button.skip", choiceDone: "button.done", choiceSend: "button.send",
		choiceEdit: "button.edit", choiceCancel: "button.cancel", choiceKeep: "button.keep"}
	for _, o := range st.options {
		ids[o.id] = o.label
	}
	return ids
}

// prompt asks a step's question with the choices it allows.
func (c *turn) prompt(f *flow, st *step) {
	if st.story && c.s.More {
		c.more()
		return
	}
	text := c.t(st.prompt, c.promptData())
	if st.input == inputSummary {
		text = c.summary(f)
	}
	editingStory := c.s.Editing && st.story && c.s.Answers[st.id] != ""
	if old := c.s.Answers[st.id]; c.s.Editing && st.input == inputText && old != "" {
		// What is being changed, and that the new words take its place:
		// a story with the recruiter's name and Zalo was replaced by one
		// line of correction, unseen (web trial).
		if r := []rune(old); c.in.Channel == "sms" && len(r) > 40 {
			old = string(r[:38]) + "…"
		} else if len(r) > 300 {
			old = string(r[:298]) + "…"
		}
		id := "common.editing_text"
		if st.story {
			id = "common.editing_story"
		}
		if editingStory && c.in.Channel == "sms" {
			// The note asks for it, in one segment: the story's long
			// question beside it made two.
			c.replies = append(c.replies, Reply{Text: c.t(id, map[string]any{"Old": old})})
			return
		}
		c.say(c.t(id, map[string]any{"Old": old}))
	}
	choices := c.offered(f, st)
	if st.input == inputMedia {
		choices = append(choices, c.choice(choiceSkip, "button.skip"))
	}
	r := Reply{Text: text, Choices: choices, Pick: st.input != inputText && st.input != inputMedia, Attach: st.input == inputMedia}
	if st.input == inputText && st.optional && !editingStory {
		r.Hint = c.t("common.skip_hint", nil) // SMS: "0 = bỏ qua"
	}
	c.replies = append(c.replies, r)
}

// summaryMax bounds a summary outside SMS: Telegram sends at most 4,096
// characters in one message and refuses a longer one, which, riding in a
// webhook's response, would be lost without a word. A story may be up to
// MaxStoryRunes.
const summaryMax = 3800

// summaryAnswerMax is how much of each answer a summary over summaryMax
// shows: they wrote it, they know it, and the officers read it whole.
const summaryAnswerMax = 250

// summary reads the answers back so the person can check them once.
func (c *turn) summary(f *flow) string {
	if c.in.Channel == "sms" {
		// One segment with its three numbered choices: each answer cut
		// shorter until it fits (one of 161 characters cost two: SMS trial).
		var s string
		for _, cut := range []int{16, 12, 9, 6} {
			// "…" goes as "..." without marks.
			if s = c.summaryClipped(f, cut); utf8.RuneCountInString(s)+2*strings.Count(s, "…") <= smsSummaryMax {
				break
			}
		}
		return s
	}
	s := c.summaryClipped(f, 0)
	if utf8.RuneCountInString(s) > summaryMax {
		s = c.summaryClipped(f, summaryAnswerMax)
	}
	return s
}

// smsSummaryMax is what a one-segment SMS leaves the summary line beside
// "1 Gui / 2 Sua / 3 Huy" on their own lines.
const smsSummaryMax = 160 - 20

// summaryClipped is the summary with each answer cut to clip runes (0: whole).
func (c *turn) summaryClipped(f *flow, clip int) string {
	var b strings.Builder
	b.WriteString(c.t(f.title, nil))
	for i := range f.steps {
		st := &f.steps[i]
		if st.input == inputSummary || st.label == "" || !st.applies(c) || st.id == "go_on" {
			continue // go_on: a way through the questions, nothing to check
		}
		answer := c.answerText(st)
		if c.in.Channel == "sms" {
			// One segment if it can be: only what was given, each cut
			// short, one after another; they wrote it, they know it.
			v, given := c.s.Answers[st.id]
			if !given && !(st.input == inputMedia && len(c.s.Media) > 0) || slices.Contains(quietAnswers, v) || st.id == "safe" ||
				st.id == "contact" && c.s.Answers["contact_how"] != "" { // the way itself follows
				continue
			}
			if st.input == inputMulti {
				answer = c.chosenNumbers(st) // the numbers they just sent
			}
			if r := []rune(strings.ReplaceAll(answer, "\n", " ")); len(r) > clip {
				answer = string(r[:clip-2]) + "…"
			}
			fmt.Fprintf(&b, " %s: %s;", c.t(st.label, nil), answer)
			continue
		}
		if r := []rune(answer); clip > 0 && len(r) > clip {
			answer = strings.TrimSpace(string(r[:clip-1])) + "…"
		}
		fmt.Fprintf(&b, "\n• %s: %s", c.t(st.label, nil), answer)
	}
	if c.in.Channel == "sms" {
		// The line ends as a sentence does, not with the separator.
		line := strings.TrimSuffix(b.String(), ";")
		if !strings.HasSuffix(line, "…") {
			line += "."
		}
		return line
	}
	return b.String() + "\n" + c.t("common.summary_footer", nil)
}

// answerText shows an answer in words: option labels, not their IDs.
func (c *turn) answerText(st *step) string {
	if st.input == inputMedia {
		return c.mediaCount()
	}
	v, ok := c.s.Answers[st.id]
	if !ok || v == "" {
		return c.t("common.not_given", nil)
	}
	if st.input == inputText {
		return v
	}
	var labels []string
	for _, id := range strings.Split(v, ",") {
		for _, o := range st.options {
			if o.id == id {
				labels = append(labels, c.t(o.label, nil))
			}
		}
	}
	if note := c.s.Answers[st.id+"_note"]; note != "" {
		labels = append(labels, note)
	}
	return strings.Join(labels, ", ")
}

// mediaCount says what was attached: "1 ảnh", "2 tệp", "1 ảnh, 2 tệp".
func (c *turn) mediaCount() string {
	photos := 0
	for _, m := range c.s.Media {
		if m.Kind == "photo" {
			photos++
		}
	}
	var parts []string
	if photos > 0 {
		parts = append(parts, c.t("common.photos", map[string]any{"Count": photos}))
	}
	if files := len(c.s.Media) - photos; files > 0 {
		parts = append(parts, c.t("common.other_files", map[string]any{"Count": files}))
	}
	if len(parts) == 0 {
		return c.t("common.not_given", nil)
	}
	return strings.Join(parts, ", ")
}

// chosen turns the input into one of the offered choices: a pressed button,
// a digit where the answer must be picked, or the words of a label or alias.
func (c *turn) chosen(f *flow, st *step) string {
	offered := c.offered(f, st)
	if st.input == inputMedia {
		offered = append(offered, c.choice(choiceSkip, "button.skip"))
	}
	if c.in.Choice != "" {
		for _, o := range offered {
			if o.ID == c.in.Choice {
				return o.ID
			}
		}
		if (strings.HasPrefix(c.in.Choice, editPrefix) || c.in.Choice == choiceBack) && st.input == inputSummary {
			return c.in.Choice
		}
		return ""
	}
	text := c.in.Text
	if text == "" {
		return ""
	}
	pick := st.input != inputText && st.input != inputMedia
	if text == "0" && st.input == inputMulti && c.in.Channel == "sms" {
		return choiceDone
	}
	if n, err := strconv.Atoi(strings.TrimSpace(text)); err == nil && pick {
		if n >= 1 && n <= len(offered) {
			return offered[n-1].ID
		}
		return ""
	}
	ids := c.labelIDs(st)
	langs := c.e.cat.Languages()
	for _, key := range c.keys().both() {
		for _, o := range offered {
			if locales.Fold(strings.TrimPrefix(o.Label, "✓ ")) == key {
				return o.ID
			}
			// Vietnamese words work whatever the conversation's language.
			for _, lang := range langs {
				if id, ok := ids[o.ID]; ok && locales.Fold(c.e.cat.T(lang, id, nil)) == key {
					return o.ID
				}
			}
		}
		for _, o := range st.options {
			if slices.Contains(o.aliases, key) {
				return o.id
			}
		}
	}
	return ""
}

// handle takes the input as the answer to the current step.
func (c *turn) handle(f *flow) {
	i := f.index(c.s.Step)
	if i < 0 { // a session from an older version of the flow
		c.start(f)
		return
	}
	if c.s.Answers == nil { // an empty map does not survive the session's JSON
		c.s.Answers = map[string]string{}
	}
	st := &f.steps[i]
	if c.story(f, i) {
		return
	}
	if c.in.Choice != "" || st.input != inputText {
		c.s.JoinStep = "" // a press, or another kind of question, ends a burst
	}
	if c.s.Editing {
		c.before = map[string]bool{}
		for j := range f.steps {
			c.before[f.steps[j].id] = f.steps[j].applies(c)
		}
	}
	choice := c.chosen(f, st)
	if choice == "" && st.dangerYes && inDanger(c.keys()) {
		choice = "yes"
	}
	if c.in.Channel == "sms" && c.in.Text == "0" && st.optional && st.input == inputText {
		choice = choiceSkip // "0 = bỏ qua", as the SMS says
		if c.s.Editing && st.story {
			choice = choiceKeep // the story is added to, never skipped away
		}
	}
	if choice == "" && st.optional && st.input == inputText && contactStep(st.id) && noWords[c.keys().fold()] {
		// "khong" asked how to reach you is no way to reach you: it was
		// kept as one, and the acknowledgement promised to call (web trial).
		choice = choiceSkip
	}
	if choice == choiceKeep && c.s.Editing {
		c.s.Editing = false
		c.goTo(f, f.index("summary"))
		return
	}
	if choice == choiceSkip && (st.optional || st.input == inputMedia) {
		delete(c.s.Answers, st.id)
		if st.otherWords != "" {
			delete(c.s.Answers, st.id+"_note")
		}
		c.advance(f, i, "")
		return
	}
	switch st.input {
	case inputSummary:
		c.handleSummary(f, st, choice)
	case inputPick:
		if choice == "" && c.addToStory(f) {
			c.say(c.t("common.added_to_story", nil))
			c.prompt(f, st)
			return
		}
		if st.otherWords != "" {
			// Words name what no option does; a pick or a skip drops
			// words left from before (Sửa: "thai lan", then Campuchia).
			delete(c.s.Answers, st.id+"_note")
		}
		if choice == "" && st.otherWords != "" && c.in.Text != "" && !onlyNumbers(c.in.Text) {
			text, ok := c.textAnswer()
			if !ok {
				return
			}
			c.s.Answers[st.id+"_note"] = text
			choice = st.otherWords
		}
		if choice == "" || choice == choiceSkip {
			c.say(c.t("common.choose", nil))
			c.prompt(f, st)
			return
		}
		c.s.Answers[st.id] = choice
		c.advance(f, i, choice)
	case inputMulti:
		c.handleMulti(f, i, choice)
	case inputMedia:
		c.handleMedia(f, i, choice)
	default:
		if st.place && c.in.Location != nil {
			c.s.JoinStep = ""
			lat, lon := coarse(*c.in.Location)
			c.s.Answers[st.id] = fmt.Sprintf("%.1f, %.1f", lat, lon)
			c.advance(f, i, "")
			return
		}
		text, ok := c.textAnswer()
		if !ok {
			return
		}
		if old := c.s.Answers[st.id]; c.s.Editing && st.story && old != "" {
			// Added to, never replaced: nothing told is lost and nothing
			// must be told twice (a correction replaced the whole story).
			if utf8.RuneCountInString(old)+1+utf8.RuneCountInString(text) > MaxStoryRunes {
				c.say(c.t("common.too_long", map[string]any{"Max": locales.Count(c.s.Lang, MaxStoryRunes)}))
				return
			}
			text = old + "\n" + text
		}
		c.s.Answers[st.id] = text
		c.answered(st)
		if c.openStory(st) {
			return
		}
		c.advance(f, i, text)
	}
}

func (c *turn) handleMulti(f *flow, i int, choice string) {
	st := &f.steps[i]
	if choice == choiceDone {
		c.advance(f, i, c.s.Answers[st.id])
		return
	}
	if c.in.Channel == "sms" {
		// On SMS the numbers sent are the whole answer ("2 4"; 0 for
		// none): no list sent again for each number.
		picks := c.picks(f, st)
		if choice != "" && choice != choiceDone && len(picks) == 0 {
			picks = []string{choice}
		}
		if len(picks) > 0 || choice == choiceDone {
			delete(c.s.Answers, st.id)
			for _, p := range picks {
				c.toggle(st, p)
			}
			c.multiAnswered(f, st)
			c.advance(f, i, c.s.Answers[st.id])
			return
		}
	}
	if picks := c.picks(f, st); choice == "" && len(picks) > 1 {
		for _, p := range picks {
			c.toggle(st, p)
		}
		c.multiAnswered(f, st)
		return
	}
	if choice == "" {
		// Words that are no option: keep them as a note beside the choices.
		text, ok := c.textAnswer()
		if !ok {
			return
		}
		if note := c.s.Answers[st.id+"_note"]; note != "" {
			text = clipRunes(note+"\n"+text, MaxStoryRunes) // a second line adds, never replaces
		}
		c.s.Answers[st.id+"_note"] = text
		c.prompt(f, st)
		return
	}
	c.toggle(st, choice)
	c.multiAnswered(f, st)
}

// toggle selects or unselects one option of a multi-select step, keeping
// the options' order whatever the order of the presses.
func (c *turn) toggle(st *step, choice string) {
	var selected []string
	if v := c.s.Answers[st.id]; v != "" {
		selected = strings.Split(v, ",")
	}
	if j := slices.Index(selected, choice); j >= 0 {
		selected = slices.Delete(selected, j, j+1)
	} else {
		selected = append(selected, choice)
	}
	var ordered []string
	for _, o := range st.options {
		if slices.Contains(selected, o.id) {
			ordered = append(ordered, o.id)
		}
	}
	if len(ordered) == 0 {
		delete(c.s.Answers, st.id)
	} else {
		c.s.Answers[st.id] = strings.Join(ordered, ",")
	}
}

// multiAnswered shows what is selected: the list again with its ticks, or
// on SMS one short line ("đã chọn 1, 3; gửi số khác hoặc 0 để xong") rather
// than the whole list for every number.
func (c *turn) multiAnswered(f *flow, st *step) {
	if c.in.Channel != "sms" {
		c.prompt(f, st)
		return
	}
	if nums := c.chosenNumbers(st); nums != "" {
		c.say(c.t("common.multi_chosen", map[string]any{"Chosen": nums}))
	}
}

// quietAnswers are left out of the SMS summary: they add nothing to check,
// and every character costs.
var quietAnswers = []string{"no", "unknown", "none", "anonymous"}

// chosenNumbers lists a multi-select answer as the numbers of its options.
func (c *turn) chosenNumbers(st *step) string {
	var nums []string
	selected := strings.Split(c.s.Answers[st.id], ",")
	for i, o := range st.options {
		if slices.Contains(selected, o.id) {
			nums = append(nums, strconv.Itoa(i+1))
		}
	}
	return strings.Join(nums, ", ")
}

// picks reads several option numbers typed at once ("1 3", "1,3").
func (c *turn) picks(f *flow, st *step) []string {
	if c.in.Choice != "" {
		return nil
	}
	fields := strings.FieldsFunc(c.in.Text, func(r rune) bool { return r == ' ' || r == ',' || r == ';' || r == '.' || r == '+' })
	offered := c.offered(f, st)
	var ids []string
	for _, f := range fields {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > len(st.options) || n > len(offered) {
			return nil
		}
		ids = append(ids, st.options[n-1].id)
	}
	return ids
}

func (c *turn) handleMedia(f *flow, i int, choice string) {
	st := &f.steps[i]
	switch {
	case len(c.in.Media) > 0:
		album := c.in.Text == "" && c.burst() // the rest of an album: no word for each photo
		kept := c.keepMedia()
		c.s.JoinAt = c.in.Now.UnixMilli()
		if c.in.Text != "" {
			c.s.Answers[st.id+"_note"] = c.in.Text
		}
		if album || kept == 0 {
			return
		}
		c.replies = append(c.replies, Reply{Text: c.t("common.files_received", map[string]any{"Count": len(c.s.Media)}),
			Choices: []Choice{c.choice(choiceDone, "button.done")}, Attach: true})
	case choice == choiceDone:
		c.advance(f, i, "")
	case c.in.Unsupported:
		c.say(c.t("common.unsupported", nil))
	default:
		text, ok := c.textAnswer()
		if !ok {
			return
		}
		c.s.Answers[st.id+"_note"] = text
		c.advance(f, i, "")
	}
}

// editChoices lists the answers that can be changed, then Quay lại.
func (c *turn) editChoices(f *flow) []Choice {
	var choices []Choice
	for j := range f.steps {
		s := &f.steps[j]
		if s.input != inputSummary && s.label != "" && s.applies(c) {
			choices = append(choices, Choice{ID: editPrefix + s.id, Label: c.t(s.label, nil)})
		}
	}
	return append(choices, c.choice(choiceBack, "button.back"))
}

// pick reads which of the choices a question was answered with: a pressed
// button (taken as it is), a number in the order the choices were shown
// (SMS), or a label's words, with or without marks or Telex residue. It
// returns "" for anything else. Steps of a flow use chosen, which also
// knows aliases and skip rules.
func (c *turn) pick(choices []Choice) string {
	if c.in.Choice != "" {
		return c.in.Choice
	}
	text := strings.TrimSpace(c.in.Text)
	if n, err := strconv.Atoi(text); err == nil {
		if n >= 1 && n <= len(choices) {
			return choices[n-1].ID
		}
		return ""
	}
	for _, key := range c.keys().both() { // Fold ignores the spaces TrimSpace cuts
		for _, ch := range choices {
			if key != "" && locales.Fold(ch.Label) == key {
				return ch.ID
			}
		}
	}
	return ""
}

func (c *turn) handleSummary(f *flow, st *step, choice string) {
	if c.s.EditMenu {
		c.s.EditMenu = false
		choice = c.pick(c.editChoices(f))
		if choice == "" {
			c.say(c.t("common.choose", nil))
			c.s.EditMenu = true
			c.replies = append(c.replies, Reply{Text: c.t("common.edit_which", nil), Choices: c.editChoices(f), Pick: true})
			return
		}
	}
	switch {
	case choice == choiceSend:
		c.submit(f)
	case choice == choiceEdit:
		c.s.EditMenu = true
		c.replies = append(c.replies, Reply{Text: c.t("common.edit_which", nil), Choices: c.editChoices(f), Pick: true})
	case choice == choiceBack:
		c.prompt(f, st)
	case choice == choiceCancel:
		// A whole report is one tap from gone: ask once.
		c.s.Confirm = true
		c.confirmCancel()
	case strings.HasPrefix(choice, editPrefix):
		j := f.index(strings.TrimPrefix(choice, editPrefix))
		if j < 0 || f.steps[j].input == inputSummary {
			c.prompt(f, st)
			return
		}
		c.s.Step, c.s.Editing = f.steps[j].id, true
		c.prompt(f, &f.steps[j])
	default:
		c.say(c.t("common.choose", nil))
		c.prompt(f, st)
	}
}

// advance moves past step i: back to the summary when editing, to where the
// step's after hook says, or to the next step that applies.
func (c *turn) advance(f *flow, i int, answer string) {
	st := &f.steps[i]
	if st.after != nil {
		next := st.after(c, answer)
		if next == submitNow {
			c.submit(f)
			return
		}
		if next != "" {
			c.s.Editing = false
			c.goTo(f, f.index(next))
			return
		}
	}
	if c.s.Editing {
		// A changed answer may open a question that did not apply before
		// (a new category "held abroad": which country?).
		for j := i + 1; j < len(f.steps); j++ {
			next := &f.steps[j]
			if next.input != inputSummary && !c.before[next.id] && next.applies(c) {
				c.s.Step = next.id
				c.prompt(f, next)
				return
			}
		}
		c.s.Editing = false
		c.goTo(f, f.index("summary"))
		return
	}
	c.goTo(f, i+1)
}

// submit finishes the flow: the report goes out to be committed, and the
// session is cleared. The acknowledgement is not said here: it is sent
// through the outbox once the report is committed.
func (c *turn) submit(f *flow) {
	details := c.details(f)
	r := &Report{
		Kind:      f.kind,
		Reference: c.in.Reference,
		Urgent:    c.s.Urgent,
		Lang:      c.s.Lang,
		Details:   details,
		Media:     c.s.Media,
		Distress:  c.s.Distress,
	}
	r.Category = details["category"]
	if c.s.Alarmed() {
		r.Since = c.s.firstCry()
	}
	r.FollowUp = f.followUp != nil && f.followUp(c) && c.in.Channel != "web"
	r.Ack = c.ack(f, r)
	c.report = r
	c.reset()
}

// Unfinished is the request a person who raised the alarm, and then went
// silent, did not send: what they told so far, urgent, marked unfinished,
// filed under the exception for protecting life. It has no acknowledgement
// (they did not ask for one, and a message now could make a watched phone
// ring) and no writing back. nil when the conversation holds no alarm any
// more: the person sent their report, cancelled it or wiped the chat, and
// that choice stands.
func (e *Engine) Unfinished(s Session, channel string, ref Reference) *Report {
	if !s.Alarmed() {
		return nil
	}
	c := &turn{e: e, s: s, in: Input{Channel: channel, Reference: ref}}
	kind, details := KindHelp, map[string]string{}
	if f := e.flows[s.Flow]; f != nil && (f.kind == KindTip || f.kind == KindHelp) {
		kind, details = f.kind, c.details(f)
	}
	if details["danger"] == "" {
		details["danger"] = "yes" // said in words
	}
	details[UnfinishedKey] = "yes"
	r := &Report{Kind: kind, Reference: ref, Urgent: true, Lang: s.Lang, Details: details,
		Category: details["category"], Media: s.Media, Distress: s.Distress}
	// Its age runs from the first cry, not the filing: one filed after a
	// silence looked 15 minutes younger than it was, below reports sent
	// after it (web trial).
	r.Since = s.firstCry()
	return r
}

// UnfinishedKey marks, in a report's details, a request filed for a person
// who raised the alarm and went silent (Engine.Unfinished).
const UnfinishedKey = "unfinished"

// WipedKey marks, beside UnfinishedKey, a request filed because the person
// wiped the chat (Thoát nhanh, XOA, the panic word) after raising the alarm.
const WipedKey = "wiped"

// Hidden is the request of a person who raised the alarm and then wiped the
// chat before sending (the quick exit, XOA, the panic word): filed at once,
// as Unfinished files a silent one. The quick way out hides the chat from
// whoever may be looking at the phone; it does not take back a cry for help
// (a person who pressed Thoát nhanh because their captor walked in was
// never heard: web trial). /huy is the way to take it back. nil when the
// conversation holds no alarm.
func (e *Engine) Hidden(s Session, channel string, ref Reference) *Report {
	r := e.Unfinished(s, channel, ref)
	if r != nil {
		r.Details[WipedKey] = "yes"
	}
	return r
}

// details are the answers a report of f carries: those of questions that
// still apply, as the flow's finish reads them.
func (c *turn) details(f *flow) map[string]string {
	details := maps.Clone(c.s.Answers)
	if details == nil {
		details = map[string]string{}
	}
	for _, st := range f.steps {
		if !st.applies(c) { // answered, then made moot by an edit
			delete(details, st.id)
			delete(details, st.id+"_note")
		}
	}
	if f.finish != nil {
		f.finish(c, details)
	}
	return details
}

// textAnswer validates a free-text answer, saying why when it is refused.
func (c *turn) textAnswer() (string, bool) {
	switch n := utf8.RuneCountInString(c.in.Text); {
	case n == 0:
		c.say(c.t("common.need_text", nil))
		return "", false
	case n > MaxTextRunes:
		c.say(c.t("common.too_long", map[string]any{"Max": locales.Count(c.s.Lang, MaxTextRunes)}))
		return "", false
	}
	return c.in.Text, true
}
