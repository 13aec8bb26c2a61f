package flows

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"tinbao/locales"
)

// People write the way people write: a story in three quick messages, a
// second line sent before the next question arrived. What follows keeps
// every word in the answer it belongs to.

// nextWords, folded, close the story question like its Tiếp button.
var nextWords = []string{"tiep", "xong", "het", "het roi", "xong roi", "vay thoi", "chi vay", "next", "done"}

// burst reports whether this message was written before the person could
// have read the reply to their previous one: the page says so for sure
// (web); else the time they sent it, if the channel gives one and the clocks
// agree, against when the previous answer was taken; else the join window.
func (c *turn) burst() bool {
	switch c.in.Seq {
	case SeqBurst:
		return true
	case SeqAfterReply:
		return false
	}
	if c.s.JoinAt == 0 || c.in.Now.IsZero() {
		return false
	}
	answered := time.UnixMilli(c.s.JoinAt)
	if sent := c.in.SentAt; !sent.IsZero() && c.in.Now.Sub(sent).Abs() < 10*time.Minute {
		// Telegram's date has whole seconds: sent in the second the
		// previous answer was taken or before, it was not an answer to
		// what we asked next.
		return !sent.After(answered.Truncate(time.Second))
	}
	return c.in.Now.Sub(answered) <= c.e.opts.Join
}

// joins adds a burst message to the free-text answer it continues, silently:
// the question on screen is still the one to answer. It reports whether it
// took the message.
func (c *turn) joins(f *flow) bool {
	if c.s.JoinStep == "" || c.in.Text == "" || c.in.Choice != "" || c.in.Location != nil ||
		c.s.Editing || c.s.EditMenu || c.s.Confirm || onlyNumbers(c.in.Text) {
		return false
	}
	burst := c.burst()
	atContact := false
	if !burst && !c.continuesAtChoice(f) {
		if !c.continuesAtContact(f) {
			return false
		}
		atContact = true
	}
	j := f.index(c.s.JoinStep)
	if j < 0 || f.steps[j].input != inputText {
		return false
	}
	if i := f.index(c.s.Step); i >= 0 && i != j && f.steps[i].input != inputText {
		// A word that answers the question now asked ("có") is that answer.
		if ch := c.chosen(f, &f.steps[i]); ch != "" {
			return false
		}
	}
	joined := c.s.Answers[c.s.JoinStep] + "\n" + c.in.Text
	if utf8.RuneCountInString(joined) > MaxStoryRunes {
		c.say(c.t("common.too_long", map[string]any{"Max": locales.Count(c.s.Lang, MaxStoryRunes)}))
		return true
	}
	c.s.Answers[c.s.JoinStep] = joined
	c.s.JoinAt = c.in.Now.UnixMilli()
	c.keepMedia()
	if !burst {
		// Written after the question on screen: say where the words went.
		c.say(c.t("common.added_to_answer", map[string]any{"Label": c.t(f.steps[j].label, nil)}))
	}
	switch {
	case atContact:
		// Once: what comes next answers the question, asked again so
		// that it is on screen.
		c.s.JoinStep = ""
		c.prompt(f, &f.steps[f.index(c.s.Step)])
	case !burst && (c.in.Channel == "sms" || f.steps[f.index(c.s.Step)].input != inputText):
		// A text has no buttons that stay on screen, and in a chat the
		// buttons scroll away under the notes: "noted" alone left the
		// person with nothing to answer (an SMS trial, twice; on a 390 px
		// phone after three notes, the web trial).
		c.prompt(f, &f.steps[f.index(c.s.Step)])
	}
	return true
}

// choiceJoin is how long after a free-text answer words that are no option
// of the choice question now asked still continue that answer: long enough
// to type a second line on a phone.
const choiceJoin = 30 * time.Second

// continuesAtChoice reports whether this message, words that pick nothing
// at the choice question now asked, came moments after a free-text answer:
// more of that answer ("campuchia", then "gan bavet hinh nhu" under the
// needs buttons), whatever the channel says about when it was written. Such
// words were kept as a note beside the choices, and a second one replaced
// the first.
func (c *turn) continuesAtChoice(f *flow) bool {
	i := f.index(c.s.Step)
	if i < 0 || c.s.JoinAt == 0 || c.in.Now.IsZero() || c.e.opts.Join < 0 {
		return false
	}
	st := &f.steps[i]
	if st.input != inputPick && st.input != inputMulti || c.chosen(f, st) != "" || len(c.picks(f, st)) > 0 {
		return false
	}
	// Only the story takes anything: a short answer (a place) is not
	// continued by a pasted page (4,900 characters filed as "where") nor,
	// on SMS, where the numbered question is all the person sees, by words
	// that answer it ("co 1 dua 16t" at the child question went to "where").
	// Those go to the story, and the question is asked again.
	if j := f.index(c.s.JoinStep); j < 0 || f.steps[j].id != f.story {
		if c.in.Channel == "sms" || utf8.RuneCountInString(c.in.Text) > maxPlaceJoin {
			return false
		}
	}
	return c.in.Now.Sub(time.UnixMilli(c.s.JoinAt)) <= choiceJoin
}

// maxPlaceJoin bounds words that may still be more of a short answer.
const maxPlaceJoin = 300

// continuesAtContact reports whether this message, typed within placeJoin
// of a place while the question asks how to reach the person, is more of
// the place: a place told in two lines ("lang son", then "nha nghi so 5
// duong Tran Hung Dao") must not become the way to reach someone, least of
// all after Gửi ngay, where that answer sends the request at once. Words of
// a way to reach someone (a phone number, an @, zalo, goi, nhan o day…) are
// the answer; so are words of a time ("buoi toi") unless they also name a
// place; anything else is more of the place. It joins once (joins asks the
// question again), so a contact said in none of these words is the next
// answer, never a loop.
func (c *turn) continuesAtContact(f *flow) bool {
	i, j := f.index(c.s.Step), f.index(c.s.JoinStep)
	if i < 0 || j < 0 || !f.steps[i].contact || !f.steps[j].place || c.s.JoinAt == 0 || c.in.Now.IsZero() ||
		c.e.opts.Join < 0 || c.in.Now.Sub(time.UnixMilli(c.s.JoinAt)) > placeJoin {
		return false
	}
	k := c.keys()
	if strings.Contains(c.in.Text, "@") || digits(c.in.Text) >= 8 || k.has(contactWords) || noWords[k.fold()] {
		return false // "khong": no way to reach them, not more of the place
	}
	return k.has(placeWords) || !k.has(timeWords)
}

// askingPresence says whether a whole message (folded) only asks whether
// anyone is there: "co ai khong", "ai do co o do ko oi", "alo alo". Only
// the whole message: "co nguoi khong cho con toi ve" (someone won't let my
// child come home) is a story, never a question of presence.
func askingPresence(folded string) bool {
	words := strings.Fields(folded)
	for len(words) > 1 && (words[len(words)-1] == "oi" || words[len(words)-1] == "a" || words[len(words)-1] == "vay") {
		words = words[:len(words)-1] // "… oi", "… a": the same question
	}
	for len(words) > 1 && (words[0] == "alo" || words[0] == "hello") {
		words = words[1:] // "alo alo co ai khong"
	}
	return presenceQuestions[strings.Join(words, " ")]
}

var presenceQuestions = map[string]bool{"co ai khong": true, "co ai ko": true, "co ai k": true,
	"co ai o do khong": true, "co ai o do ko": true, "ai do co o do khong": true, "ai do co o do ko": true,
	"co ai doc khong": true, "co ai doc ko": true, "co ai o day khong": true, "co ai o day ko": true,
	"co ai nghe khong": true, "co ai tra loi khong": true, "co ai khong vay": true, "alo": true, "a lo": true,
	"con ai o do khong": true, "con ai khong": true, "anyone there": true, "is anyone there": true,
	"is someone there": true, "anybody there": true, "hello anyone there": true}

// placeJoin is how long after a place a message at the contact question
// may still be more of the place: a second line typed by a frightened
// person on a phone.
const placeJoin = time.Minute

func digits(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}

// contactWords are folded words of a way to reach someone; timeWords, of a
// time to; placeWords, of a place.
var (
	contactWords = padded([]string{
		"zalo", "facebook", "fb", "face", "messenger", "mess", "telegram", "tele", "viber", "whatsapp", "signal",
		"email", "mail", "gmail", "sdt", "so dien thoai", "dien thoai", "dt", "goi", "nhan", "nhan tin", "o day",
		"qua day", "lien lac", "lien he", "nghe may", "may", "khong can", "dung lien lac", "call", "text",
		"message", "phone", "here",
	})
	timeWords = padded([]string{
		"sang", "trua", "chieu", "toi", "dem", "gio", "h", "luc", "khi", "bat ky", "bat cu", "buoi", "nay", "mai",
		"sau", "truoc", "night", "morning", "evening", "any", "after",
	})
	placeWords = padded([]string{
		"o", "nha", "nha nghi", "khach san", "duong", "pho", "so nha", "ngo", "hem", "kiet", "thon", "xom", "ban",
		"xa", "phuong", "huyen", "quan", "tinh", "thanh pho", "tp", "gan", "canh", "doi dien", "ben xe", "cho",
		"cong ty", "khu", "toa nha", "tang", "phong", "cua khau", "bien gioi", "campuchia", "lao", "trung quoc",
		"myanmar", "thai lan", "malaysia",
	})
)

// answered notes a free-text answer, which a burst may continue.
func (c *turn) answered(st *step) {
	c.s.JoinStep, c.s.JoinAt = st.id, 0
	if !c.in.Now.IsZero() {
		c.s.JoinAt = c.in.Now.UnixMilli()
	}
}

// story handles the story question while it is open for more: more words
// are added, Tiếp moves on. It reports whether it took the input.
func (c *turn) story(f *flow, i int) bool {
	st := &f.steps[i]
	if !st.story || !c.s.More {
		return false
	}
	key := c.keys().fold()
	if c.in.Choice == choiceNext || (c.in.Choice == "" && (slices.Contains(nextWords, key) ||
		key == locales.Fold(c.t("button.next", nil)))) {
		c.s.More, c.s.JoinStep = false, ""
		c.advance(f, i, c.s.Answers[st.id])
		return true
	}
	if c.in.Choice != "" || c.in.Location != nil {
		c.more()
		return true
	}
	text, ok := c.textAnswer()
	if !ok {
		return true
	}
	joined := c.s.Answers[st.id] + "\n" + text
	if utf8.RuneCountInString(joined) > MaxStoryRunes {
		c.say(c.t("common.too_long", map[string]any{"Max": locales.Count(c.s.Lang, MaxStoryRunes)}))
		return true
	}
	c.s.Answers[st.id] = joined
	c.answered(st)
	c.say(c.t("common.more_added", nil), c.choice(choiceNext, "button.next"))
	return true
}

// openStory keeps the story question open after its first answer, where a
// person can send more (not on SMS, where every reply costs a segment and
// the join window serves).
func (c *turn) openStory(st *step) bool {
	if !st.story || c.s.Editing || c.in.Channel == "sms" {
		return false
	}
	c.s.More = true
	c.more()
	return true
}

func (c *turn) more() {
	c.say(c.t("common.more", nil), c.choice(choiceNext, "button.next"))
}

// keepMedia keeps the attachments of this message with the report, up to
// MaxMedia, and returns how many it kept. A file over MaxMediaBytes is
// refused at once, with a word saying so: the person can send a smaller
// one now, and would never learn later that it was not kept.
func (c *turn) keepMedia() int {
	var fit []Media
	for _, m := range c.in.Media {
		if m.Size <= MaxMediaBytes {
			fit = append(fit, m)
		}
	}
	if len(fit) < len(c.in.Media) {
		c.say(c.t("common.file_too_big", map[string]any{"MB": MaxMediaBytes >> 20}))
	}
	n := min(max(MaxMedia-len(c.s.Media), 0), len(fit))
	c.s.Media = append(c.s.Media, fit[:n]...)
	return n
}

// addToStory keeps words typed where a button was expected (more of the
// story, sent after pressing Báo tin) with the person's own account rather
// than dropping them. A word or two is a mistyped choice instead.
func (c *turn) addToStory(f *flow) bool {
	if f.story == "" || c.in.Choice != "" || len(strings.Fields(c.in.Text)) < 3 {
		return false
	}
	joined := strings.TrimPrefix(c.s.Answers[f.story]+"\n"+c.in.Text, "\n")
	if utf8.RuneCountInString(joined) > MaxStoryRunes {
		return false
	}
	c.s.Answers[f.story] = joined
	return true
}

// onlyNumbers reports whether text is numbers alone ("2", "1 3"): choices
// or a count, an answer to the question asked, never more of a story.
func onlyNumbers(text string) bool {
	return strings.Trim(text, "0123456789 ,;.") == "" && strings.ContainsAny(text, "0123456789")
}
