package flows

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// run decides what one input means: commands and danger first, wherever the
// conversation is, then the running flow's step.
func (c *turn) run() {
	if c.e.panic != "" && c.keys().fold() == c.e.panic {
		c.erase(true)
		return
	}
	if c.in.Unsupported && c.in.Text == "" && c.s.Step != "media" {
		c.say(c.t("common.unsupported", nil))
		return
	}
	if c.s.Flow == "" && c.s.Step == menuStep && c.in.Choice == "" {
		// A number typed after the menu picks from it (SMS has no buttons).
		if n, err := strconv.Atoi(strings.TrimSpace(c.in.Text)); err == nil && n >= 1 && n <= len(c.menuChoices()) {
			c.in.Choice, c.in.Text = c.menuChoices()[n-1].ID, ""
		}
	}
	cmd, rest := commandOf(c.in, c.keys())
	news := cmd == cmdNews
	if news {
		// At rest, a question about a report; in a request, words of it;
		// after an officer wrote, an answer to them.
		cmd = cmdNone
		if _, running := c.e.flows[c.s.Flow]; !running && c.in.OpenThread == "" {
			cmd = cmdStatus
		}
	}
	if cmd == cmdNone {
		c.noteAbroad(c.in.Text)
	}
	// Danger first, whatever state the conversation is in.
	danger := cmd == cmdNone && inDanger(c.keys())
	c.danger = danger
	if danger {
		f, running := c.e.flows[c.s.Flow]
		if running && c.s.Answers != nil && c.s.Answers["danger"] == "" && f.index("danger") >= 0 && c.s.Step != "danger" {
			c.s.Answers["danger"] = "yes" // said in words: not asked again
		}
		heard := running && !c.s.Urgent
		c.s.Urgent = true
		// The numbers once per burst: a cry for help in three quick
		// messages showed the whole list three times.
		shown := len(c.s.Distress) > 0 && !c.in.Now.IsZero() &&
			c.in.Now.Sub(c.s.Distress[len(c.s.Distress)-1].At) < numbersAgain
		c.keepAlarm()
		if !shown {
			c.emergency()
		}
		if heard {
			c.say(c.t("common.marked_urgent", nil)) // heard, not only answered with numbers
		}
		if c.s.Paused || c.idle() {
			// Back into the conversation at once, without the question
			// whether to go on.
			c.s.Paused = false
			c.again(false)
			if c.s.Flow == "" {
				c.start(c.e.flows[helpFlowName])
			}
			return
		}
	}
	if cmd == cmdNone && c.s.Paused {
		c.paused()
		return
	}
	if cmd == cmdNone && c.idle() {
		c.s.Paused = true
		c.ask(c.t("common.idle", nil), c.pauseChoices()...)
		return
	}
	c.s.Paused = false
	switch cmd {
	case cmdMenu:
		if c.resume() {
			return
		}
		start := strings.HasPrefix(c.keys().fold(), "/start")
		// Back to the menu is a way round, not a cancel: a cry for help
		// stays with the conversation (the next request carries it, and
		// one that goes silent is filed with it). /huy and /xoa end it.
		distress := c.s.Distress
		c.reset()
		if len(distress) > 0 {
			c.s.Distress, c.s.Urgent = distress, true
		}
		c.menu()
		if start {
			c.withPrivacy()
		}
		return
	case cmdCancel:
		if c.in.Choice == choiceCancel && c.s.Step == "summary" {
			// A whole report is one tap from gone: ask once.
			c.s.Confirm = true
			c.confirmCancel()
			return
		}
		_, running := c.e.flows[c.s.Flow]
		lookup := c.s.Flow == statusFlowName
		urgent := c.s.Urgent
		c.reset()
		if urgent {
			c.emergency() // someone who cried for help leaves with the numbers
		}
		switch {
		case running:
			c.ended(c.t("common.cancelled", nil))
		case lookup: // the code prompt says HUY stops it
			c.ended(c.t("status.stopped", nil))
		default:
			c.ended(c.t("common.nothing_to_cancel", nil))
		}
		return
	case cmdWipe:
		c.erase(false)
		return
	case cmdReport:
		c.start(c.e.flows[reportFlowName])
		return
	case cmdHelp:
		if c.in.Channel == "sms" && c.in.Choice == "" {
			c.say(c.t("help.intro_sms", nil)) // HELP by SMS: what this is, and the numbers
		}
		c.start(c.e.flows[helpFlowName])
		return
	case cmdStatus:
		c.reset()
		c.s.Flow, c.s.Step = statusFlowName, "code"
		if rest != "" {
			c.status(rest)
			return
		}
		if news {
			c.say(c.t("status.ask_news", nil))
			return
		}
		c.say(c.t("status.ask", nil))
		return
	case cmdLanguage:
		// Switching language in the middle of a report keeps the draft,
		// even when asked twice, and a pending "cancel?" question is
		// dropped: the person did not say yes to it.
		c.s.Confirm, c.s.EditMenu = false, false
		switch _, ok := c.e.flows[c.s.Flow]; {
		case ok:
			c.s.Resume = c.s.Flow + "/" + c.s.Step
		case c.s.Flow == languageFlowName:
		default:
			c.reset()
		}
		c.s.Flow, c.s.Step = languageFlowName, "pick"
		c.languages()
		return
	case cmdEnglish:
		if c.s.Flow == languageFlowName {
			// The list's own answer: back to the draft it left.
			c.in.Choice, c.in.Text = langPrefix+"en", ""
			c.language()
			return
		}
		c.s.Lang = "en"
		c.s.Confirm, c.s.EditMenu = false, false
		c.say(c.t("language.done", nil))
		c.again(true)
		return
	case cmdEmergency:
		if _, running := c.e.flows[c.s.Flow]; running {
			c.emergency()
			c.again(false)
			return
		}
		c.reset()
		c.s.Step = menuStep
		c.endedNumbers()
		return
	case cmdAgain:
		c.again(true)
		return
	case cmdData:
		c.startData(rest)
		return
	}
	if c.s.Confirm {
		c.confirming()
		return
	}
	switch c.s.Flow {
	case statusFlowName:
		if codeAttempt(c.in.Text) || FindReference(c.in.Text) != "" {
			c.status(c.in.Text)
			return
		}
		// Words, not a code: they moved on ("em can giup"). Read them as
		// a new message rather than keep asking for a code.
		c.reset()
	case languageFlowName:
		c.language()
		return
	case dataFlowName:
		c.dataStep()
		return
	}
	if f, ok := c.e.flows[c.s.Flow]; ok {
		if i := f.index(c.s.Step); i >= 0 && !c.danger && askingPresence(c.keys().fold()) {
			// "ai do co o do ko?" (is anyone there?) after a silence: a
			// person answers that, not "added to your story" (web trial).
			c.say(c.t("common.here", nil))
			c.prompt(f, &f.steps[i])
			return
		}
		if c.joins(f) {
			return
		}
		if len(c.in.Media) > 0 && c.s.Step != "media" {
			// A photo sent at any question is kept with the report, not
			// dropped; its caption, if any, answers the question. The
			// rest of an album arrives at once: kept without a word.
			album := c.in.Text == "" && c.burst()
			kept := c.keepMedia()
			if c.in.Text == "" {
				c.s.JoinStep, c.s.JoinAt = "", c.in.Now.UnixMilli()
			}
			if album {
				return
			}
			if c.in.Text == "" {
				if kept > 0 {
					c.say(c.t("common.files_kept", map[string]any{"Count": len(c.s.Media)}))
				}
				c.again(false)
				return
			}
		}
		c.handle(f)
		return
	}
	// No flow running.
	if ref, rest := leadingReference(c.in.Text); ref != "" && rest != "" {
		// "TB-7K3M-Q9XJ tôi muốn nói thêm…": to that report's officers.
		c.reset()
		c.reply = &ThreadReply{Reference: ref, Text: rest}
		return
	}
	switch {
	case c.in.OpenThread != "" && c.in.Text != "" && !danger && !LooksLikeReference(c.in.Text):
		c.reset()
		c.reply = &ThreadReply{Reference: c.in.OpenThread, Text: c.in.Text}
		if c.in.Channel == "sms" && stopWord(c.in.Text) {
			c.say(c.t("thread.stop_how", nil))
		}
	case danger:
		// Someone in danger who has not chosen anything yet: the help
		// questions, starting with whether it is safe to write, their
		// words kept.
		c.start(c.e.flows[helpFlowName])
	case c.in.Text != "" && LooksLikeReference(c.in.Text):
		c.s.Flow, c.s.Step = statusFlowName, "code"
		c.status(c.in.Text)
	case c.in.OpenThread == "" && len(strings.Fields(c.in.Text)) <= 8 && FindReference(c.in.Text) != "":
		// "ma TB-2DJP-R06Q sao roi?" (how is my code doing?): a few words
		// around a code ask about it; they started a new report (SMS trial).
		// A code first, then words, goes to the officers (above).
		c.s.Flow, c.s.Step = statusFlowName, "code"
		c.status(string(FindReference(c.in.Text)))
	default:
		c.opener()
	}
}

// numbersAgain is how long after an alarm the emergency numbers, still on
// the screen, are not sent again for the next one.
const numbersAgain = 2 * time.Minute

// keepAlarm keeps this message, word for word, because it raised the alarm.
func (c *turn) keepAlarm() {
	if c.in.Text == "" {
		return
	}
	text := c.in.Text
	if r := []rune(text); len(r) > MaxTextRunes {
		text = string(r[:MaxTextRunes])
	}
	c.alarm = &Distress{At: c.in.Now.UTC(), Text: text}
	if len(c.s.Distress) < MaxDistress {
		c.s.Distress = append(c.s.Distress, *c.alarm)
	}
}

// ended says something that ends what the person was doing, with the menu
// offered again: no dead ends.
func (c *turn) ended(text string) {
	c.replies = append(c.replies, c.endReply(text))
}

// endedNumbers gives the emergency numbers, with the menu after them.
func (c *turn) endedNumbers() {
	r := c.endReply(c.numbers())
	r.Numbers = true
	c.replies = append(c.replies, r)
}

// withPrivacy says who reads the messages and what is kept, up front: in the
// menu's greeting when the turn starts with it, else as the first message.
func (c *turn) withPrivacy() {
	if c.in.Channel == "sms" {
		return // the SMS greeting says it, within its one segment
	}
	text := c.t("menu.privacy", map[string]any{"URL": c.e.opts.PrivacyURL, "Forget": c.span(c.e.opts.Forget)})
	for _, r := range c.replies {
		if strings.Contains(r.Text, text) {
			return
		}
	}
	if len(c.replies) > 0 && c.replies[0].Text == c.t("menu.greeting", nil) {
		c.replies[0].Text += "\n" + text
		return
	}
	c.replies = append([]Reply{{Text: text}}, c.replies...)
}

func (c *turn) confirmCancel() { c.ask(c.t("common.cancel_confirm", nil), c.confirmChoices()...) }

func (c *turn) confirmChoices() []Choice {
	return []Choice{c.choice(choiceCancelYes, "button.cancel_yes"), c.choice(choiceBack, "button.back")}
}

// confirming takes the answer to "cancel the whole report?" (a number, on
// SMS, counts in the order the two choices were shown).
func (c *turn) confirming() {
	c.s.Confirm = false
	switch c.pick(c.confirmChoices()) {
	case choiceCancelYes:
		c.reset()
		c.say(c.t("common.cancelled", nil))
	case choiceBack:
		c.again(true)
	default:
		c.s.Confirm = true
		c.confirmCancel()
	}
}

// again asks the pending question once more; with nothing pending, the
// menu if orMenu.
func (c *turn) again(orMenu bool) {
	if c.s.Flow == dataFlowName {
		c.dataAgain()
		return
	}
	if f, ok := c.e.flows[c.s.Flow]; ok {
		if i := f.index(c.s.Step); i >= 0 {
			c.prompt(f, &f.steps[i])
			return
		}
	}
	if orMenu {
		c.reset()
		c.menu()
	}
}

// idle reports whether a flow has rested longer than the engine allows.
func (c *turn) idle() bool {
	if c.s.Flow == "" || c.s.Touched == 0 || c.in.Now.IsZero() {
		return false
	}
	return c.in.Now.Sub(time.Unix(c.s.Touched, 0)) > c.e.opts.Idle
}

// paused handles the answer to "resume or start again?".
func (c *turn) paused() {
	switch c.pick(c.pauseChoices()) {
	case choiceResume:
		c.s.Paused = false
		c.again(true)
	case choiceRestart:
		c.reset()
		c.menu()
	default:
		c.ask(c.t("common.idle", nil), c.pauseChoices()...)
	}
}

func (c *turn) pauseChoices() []Choice {
	return []Choice{c.choice(choiceResume, "button.resume"), c.choice(choiceRestart, "button.restart")}
}

// The menu's choices, in the order they are numbered. Requests about one's
// data come last, and not on SMS: the menu must stay one SMS, and DU LIEU
// works there as a keyword.
var (
	menuChoices = []string{choiceReport, choiceHelp, choiceStatus, choiceEmergency, choiceLanguage, choiceData}
	menuLabels  = []string{"menu.report", "menu.help", "menu.status", "menu.emergency", "menu.language", "menu.data"}
)

// menuStep marks a session whose last question was the menu.
const menuStep = "menu"

func (c *turn) menu() {
	c.ask(c.t("menu.greeting", nil), c.menuChoices()...)
	c.s.Step = menuStep
}

// endReply is text with the menu offered again.
func (c *turn) endReply(text string) Reply {
	return Reply{Text: text, Choices: c.menuChoices(), Menu: true, Hint: c.t("menu.sms_hint", nil)}
}

func (c *turn) menuChoices() []Choice {
	n := len(menuChoices)
	if c.in.Channel == "sms" {
		n-- // no data entry
	}
	choices := make([]Choice, n)
	for i := range n {
		choices[i] = c.choice(menuChoices[i], menuLabels[i])
	}
	return choices
}

// erase ends the conversation and asks the caller to wipe it from the
// channel. The panic word answers with something harmless instead.
func (c *turn) erase(panicWord bool) {
	c.reset()
	c.wipe = true
	switch {
	case panicWord:
		c.say(c.t("wipe.panic_reply", nil))
	}
	// Telegram: the messages disappear, which says it all. Web: the page
	// clears itself. SMS: nothing, as after STOP: an answer would make the
	// phone ring just when someone may be looking at it.
}

const (
	statusFlowName   = "status"
	languageFlowName = "lang"
)

// status checks a code typed for a lookup. The check symbol is verified
// before anything is looked up.
func (c *turn) status(text string) {
	ref, err := ParseReference(text)
	if err != nil {
		if found := FindReference(text); found != "" {
			ref, err = found, nil
		}
	}
	switch {
	case err == nil:
		c.reset()
		c.lookup = ref
	case errors.Is(err, ErrRefCheck):
		c.say(c.t("status.typo", nil))
	default:
		c.say(c.t("status.format", nil))
	}
}

// Status answers a lookup the caller made for Result.Lookup. found is false
// both for an unknown code and for a report of someone else: the two must
// look the same. limited is true when the sender looked up too often.
func (e *Engine) Status(lang string, ref Reference, status string, found, limited bool) Reply {
	c := &turn{e: e, s: Session{Lang: lang}}
	end := c.endReply
	switch {
	case limited:
		return end(c.t("status.limited", nil))
	case !found:
		return end(c.t("status.unknown", map[string]any{"Reference": string(ref)}))
	}
	id := "status.received"
	switch status {
	case "in_review", "verifying":
		id = "status.checking"
	case "forwarded":
		id = "status.forwarded"
	case "resolved", "unfounded", "duplicate":
		id = "status.closed"
	}
	return end(c.t(id, map[string]any{"Reference": string(ref)}))
}

// LookupsBusy answers a lookup refused because too many were asked for,
// of that code or of the service, by everyone together: calm, said the same
// whether the code exists or not, with where to call if it is urgent.
func (e *Engine) LookupsBusy(lang string) Reply {
	c := &turn{e: e, s: Session{Lang: lang}}
	return c.endReply(c.t("status.busy", nil))
}

// AfterMenu is a conversation that has been shown the menu and the privacy
// notice, and holds nothing else: the web page answered without a session
// (its opening menu) starts its session here, so the notice is not said
// twice and a number typed next picks from the menu.
func AfterMenu(now time.Time) Session { return Session{Step: menuStep, Touched: now.Unix()} }

// Menu is the menu's choices in lang, offered again after a message that
// came from elsewhere (the acknowledgement in the web chat's inbox).
func (e *Engine) Menu(lang string) []Choice {
	return (&turn{e: e, s: Session{Lang: lang}}).menuChoices()
}

func (c *turn) languages() { c.ask(c.t("language.ask", nil), c.languageChoices()...) }

// languageChoices names each language in itself.
func (c *turn) languageChoices() []Choice {
	var choices []Choice
	for _, lang := range c.e.cat.Languages() {
		choices = append(choices, Choice{ID: langPrefix + lang, Label: c.e.cat.T(lang, "language.name", nil)})
	}
	return choices
}

// language switches the conversation's language.
func (c *turn) language() {
	lang := ""
	if id, ok := strings.CutPrefix(c.pick(c.languageChoices()), langPrefix); ok {
		lang = c.e.cat.Match(id)
	}
	if lang == "" && c.in.Choice == "" {
		lang = c.e.cat.Match(c.keys().fold()) // "en", "vi"
	}
	if lang == "" {
		c.say(c.t("common.choose", nil))
		c.languages()
		return
	}
	back := c.s.Resume
	c.s.Lang, c.s.Resume = lang, ""
	c.say(c.t("language.done", nil))
	if flow, step, ok := strings.Cut(back, "/"); ok {
		if f, ok := c.e.flows[flow]; ok && f.index(step) >= 0 {
			c.s.Flow, c.s.Step = flow, step
			c.prompt(f, &f.steps[f.index(step)])
			return
		}
	}
	c.reset()
	c.s.Lang = lang
	c.menu()
}

// leadingReference splits "TB-7K3M-Q9XJ more words" into a valid code and
// the words.
func leadingReference(text string) (Reference, string) {
	f := strings.Fields(text)
	if ref, n := referenceAt(f, 0); n > 0 {
		return ref, strings.Join(f[n:], " ")
	}
	return "", ""
}

// ThreadAck answers a reporter's message to their report's officers: passed
// on, or (not their report, or no such code) the lookup's neutral answer.
func (e *Engine) ThreadAck(lang string, ref Reference, ok bool) Reply {
	c := &turn{e: e, s: Session{Lang: lang}}
	if !ok {
		return Reply{Text: c.t("status.unknown", map[string]any{"Reference": string(ref)})}
	}
	// Not numbered on SMS: a number typed next is a reply like any other;
	// the words of the button start something new.
	return Reply{Text: c.t("thread.forwarded", map[string]any{"Reference": string(ref)}),
		Choices: []Choice{c.choice(choiceMenu, "thread.start_new")}, Hint: c.t("thread.start_new_sms", nil)}
}

// StatusNotice is what a reporter who allowed follow-up is told when an
// officer moves their report on; ok is false for statuses that say nothing
// to the reporter.
func (e *Engine) StatusNotice(lang string, ref Reference, status string) (string, bool) {
	c := &turn{e: e, s: Session{Lang: lang}}
	switch status {
	case "forwarded":
		return c.t("notice.forwarded", map[string]any{"Reference": string(ref)}), true
	case "resolved", "unfounded", "duplicate":
		return c.t("notice.closed", map[string]any{"Reference": string(ref)}), true
	}
	return "", false
}

// resume takes up an SMS request where it stopped when the person writes
// BAT DAU (or START) mid-request: the word that ends an opt-out, which may
// have been a "dung" meant as "đúng" (yes). The menu would have thrown the
// draft away; the question they were at is asked again instead (HUY still
// cancels).
func (c *turn) resume() bool {
	if c.in.Channel != "sms" || !c.midRequest() {
		return false
	}
	switch c.keys().fold() {
	case "bat dau", "start":
	default:
		return false
	}
	f := c.e.flows[c.s.Flow]
	i := f.index(c.s.Step)
	if i < 0 {
		return false
	}
	c.say(c.t("common.resumed", nil))
	c.prompt(f, &f.steps[i])
	return true
}
