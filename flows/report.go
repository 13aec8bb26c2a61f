package flows

// The report flow: a citizen's tip. Every question but "what happened" can be
// skipped, nothing asks who the reporter is, and anonymity is the default.

import (
	"regexp"
	"slices"
	"strings"
	"unicode"

	"tinbao/locales"
)

const reportFlowName = "report"

func notSMS(c *turn) bool { return c.in.Channel != "sms" }

// knownCountry answers the country question from a country named in this
// request's own words (its story so far, as an opener keeps it): one of
// the question's options, or Other with the country's name beside it. A
// country from an earlier request in the same conversation is not taken.
func (c *turn) knownCountry(f *flow) {
	code := c.e.opts.Hotlines.CountryIn(c.s.Answers[f.story])
	country, ok := c.e.opts.Hotlines.Countries[code]
	i := f.index("country")
	if !ok || i < 0 || c.s.Answers["country"] != "" {
		return
	}
	st := &f.steps[i]
	if slices.ContainsFunc(st.options, func(o option) bool { return o.id == code }) {
		c.s.Answers["country"] = code
		return
	}
	c.s.Answers["country"], c.s.Answers["country_note"] = st.otherWords, country.NameVI
}

// whenWords are folded phrases that say when, and only that: a time of
// day with its word for "part of the day", "any time", a weekday. Bare
// words that fold into others are left out: "sang" (also Sang, a name, and
// sang, to go over), "dem" (đem, to bring), "chieu", "toi" (tôi, I).
var whenWords = padded([]string{"buoi sang", "sang som", "sang nay", "sang mai", "buoi trua", "buoi chieu", "chieu nay",
	"chieu mai", "buoi toi", "toi nay", "toi mai", "ban dem", "nua dem", "dem nay", "ban ngay", "khuya", "luc nao",
	"gio nao", "bat cu luc", "bat ky luc", "cuoi tuan", "gio hanh chinh", "thu bay", "chu nhat"})

// markedWhen are the same words with their marks, which say only when.
var markedWhen = map[string]bool{"sáng": true, "trưa": true, "chiều": true, "tối": true, "đêm": true}

// clockTime is an hour as people type it: 9h, 20h30, 9 gio, 21:00.
var clockTime = regexp.MustCompile(`\b\d{1,2}(h\d{0,2}|g\d{0,2}| gio|:\d\d)\b`)

// mentionsTime reports whether text says when, with or without diacritics
// (see whenWords, clockTime). It errs towards no: the price of a miss is
// one question asked again.
func mentionsTime(text string) bool {
	if text == "" {
		return false
	}
	k := keysOf(text)
	lower := strings.ToLower(locales.Clean(text))
	if k.has(whenWords) || clockTime.MatchString(k.fold()) || clockTime.MatchString(lower) {
		return true
	}
	words := strings.FieldsFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for i, w := range words {
		if markedWhen[w] && !(w == "tối" && i+1 < len(words) && words[i+1] == "đa") { // "tối đa": at most
			return true
		}
	}
	return false
}

// abroadSomewhere marks a person abroad in a country the hotlines file does
// not list.
const abroadSomewhere = "xx"

func reportFlow() *flow {
	return &flow{
		name:  reportFlowName,
		kind:  KindTip,
		ack:   "ack.tip",
		title: "report.summary",
		story: "what",
		steps: []step{
			{id: "category", prompt: "report.category", label: "report.label.category", input: inputPick, optional: true,
				options: []option{
					{id: "lured", label: "category.lured"},
					{id: "held_abroad", label: "category.held_abroad"},
					{id: "marriage", label: "category.marriage"},
					{id: "sexual", label: "category.sexual"},
					{id: "labour", label: "category.labour"},
					{id: "child", label: "category.child"},
					{id: "scam", label: "category.scam"},
					{id: "organ", label: "category.organ"},
					{id: "other", label: "category.others"},
				},
				after: func(c *turn, answer string) string {
					if answer == "held_abroad" && c.s.Abroad == "" {
						c.s.Abroad = abroadSomewhere
					}
					if answer == "held_abroad" {
						c.knownCountry(c.e.flows[reportFlowName])
					}
					return ""
				}},
			// Not asked of a person who already named the country ("con
			// toi o trung quoc"): asked again, they felt unheard (SMS
			// trial); the summary shows it, and Sửa changes it. A country
			// typed that is not among the options is kept beside Other.
			{id: "country", prompt: "report.country", label: "report.label.country", input: inputPick, optional: true,
				otherWords: "other",
				when:       func(c *turn) bool { return c.s.Answers["category"] == "held_abroad" },
				options: []option{
					{id: "kh", label: "country.kh", aliases: []string{"campuchia", "cambodia", "cam pu chia"}},
					{id: "mm", label: "country.mm", aliases: []string{"myanmar", "mien dien"}},
					{id: "la", label: "country.la", aliases: []string{"lao", "laos"}},
					{id: "other", label: "country.elsewhere"},
				},
				after: func(c *turn, answer string) string {
					if answer != "" && answer != "other" {
						c.s.Abroad = answer
					}
					return ""
				}},
			{id: "what", prompt: "report.what", label: "report.label.what", input: inputText, story: true, optional: true},
			{id: "where", prompt: "report.where", label: "report.label.where", input: inputText, optional: true, place: true},
			// On SMS the story's question asks when and how many, and these
			// two are not asked: each question costs the person a text.
			{id: "when", prompt: "report.when", label: "report.label.when", input: inputText, optional: true, when: notSMS},
			{id: "people", prompt: "report.people", label: "report.label.people", input: inputText, optional: true, when: notSMS},
			{id: "child", prompt: "report.child", label: "report.label.child", input: inputPick, optional: true,
				options: []option{
					{id: "under16", label: "child.under16"},
					{id: "16to17", label: "child.16to17"},
					{id: "none", label: "child.none", aliases: []string{"khong", "ko", "no"}},
					{id: "unknown", label: "child.unknown", aliases: []string{"khong biet", "ko biet"}},
				},
				// A child involved makes a report urgent, as danger now
				// does: it is handed on at once, not within a day.
				after: func(c *turn, answer string) string {
					if answer == "under16" || answer == "16to17" {
						c.s.Urgent = true
					}
					return ""
				}},
			{id: "danger", prompt: "report.danger", label: "report.label.danger", input: inputPick, optional: true, dangerYes: true,
				options: []option{yes, no, {id: "unknown", label: "choice.unknown", aliases: []string{"khong biet", "ko biet"}}},
				after: func(c *turn, answer string) string {
					if answer == "yes" {
						c.s.Urgent = true
						c.emergency()
					}
					return ""
				}},
			{id: "media", prompt: "report.media", label: "report.label.media", input: inputMedia,
				// Not on SMS, which carries no pictures. The web chat takes
				// photos (JPEG, PNG), uploaded from the page.
				when: func(c *turn) bool { return c.in.Channel != "sms" || len(c.s.Media) > 0 }},
			{id: "contact", prompt: "report.contact", label: "report.label.contact", input: inputPick, optional: true,
				options: []option{
					{id: "anonymous", label: "button.anonymous", aliases: []string{"an danh"}},
					{id: "contact", label: "contact.leave"},
				}},
			{id: "contact_how", prompt: "report.contact_how", label: "report.label.contact_how", input: inputText, optional: true,
				when: func(c *turn) bool { return c.s.Answers["contact"] == "contact" }},
			// The web chat cannot write to someone who closed the page: it
			// does not ask, and the acknowledgement says how to look up.
			{id: "followup", prompt: "report.followup", label: "report.label.followup", input: inputPick, optional: true,
				options: []option{yes, no},
				when:    func(c *turn) bool { return c.in.Channel != "web" }},
			// Not asked again of a person whose way to reach them already
			// said when it is safe ("goi sau 9h toi"): contact_how asks
			// both, and a second time reads as if we did not listen (on SMS
			// it costs a text too).
			{id: "followup_when", prompt: "report.followup_when", label: "report.label.followup_when", input: inputText, optional: true,
				when: func(c *turn) bool {
					return c.s.Answers["followup"] == "yes" && !mentionsTime(c.s.Answers["contact_how"])
				}},
			{id: "summary", input: inputSummary},
		},
		// We write to a tipster later only if they said yes: no contact
		// without permission and a safe time (docs/domain.md §6.3).
		followUp: func(c *turn) bool { return c.s.Answers["followup"] == "yes" },
	}
}
