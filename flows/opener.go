package flows

import "strings"

// A person often opens with what matters to them (their story, their need)
// rather than a menu word. The opener is read for intent, and their words are
// kept, so nobody has to type them twice.

type intent int

const (
	intentNone   intent = iota // a greeting, a word: the menu
	intentStory                // words about something: keep them, ask which door
	intentHelp                 // asks for help
	intentReport               // wants to report
)

// helpWords and reportWords, folded, are matched as whole words anywhere in
// the message, with and without marks or Telex residue, and in teen code
// ("jup", "zup" for giúp; "e" for em).
var (
	helpWords = []string{
		"can giup", "can giup do", "giup toi", "giup em", "giup e", "giup minh", "giup voi", "giup con",
		"giup chau", "giup chung toi", "nho giup", "xin giup", "muon duoc giup", "can ho tro", "ho tro toi",
		"ho tro em", "xin ho tro", "jup", "zup", "jup e", "zup e", "jup voi", "zup voi", "giup vs", "jup vs",
		"need help", "i need help", "please help", "help us",
	}
	reportWords = []string{
		"bao tin", "to giac", "muon bao", "toi muon bao", "em muon bao", "bao cao", "trinh bao", "tin bao",
		"bao cong an", "report", "i want to report",
	}
	// numberWords ask for the numbers to call ("cho xin so duong day
	// nong"): they are given at once, whatever else the message asks.
	numberWords = []string{
		"duong day nong", "hotline", "so khan cap", "so dien thoai khan cap", "so cap cuu", "so cuu ho",
		"so cong an", "so tong dai", "tong dai", "goi so nao", "emergency number", "phone number to call",
	}
)

// storyWords is how many words make an opener a story rather than a greeting.
const storyWords = 4

var helpPadded, reportPadded, numberPadded = padded(helpWords), padded(reportWords), padded(numberWords)

// intentOf reads a first message, by its keys.
func intentOf(k keys) intent {
	switch {
	case k.has(helpPadded):
		return intentHelp
	case k.has(reportPadded):
		return intentReport
	case k.words() >= storyWords:
		return intentStory
	}
	return intentNone
}

// opener answers a first message that is no command and no code.
func (c *turn) opener() {
	text := c.in.Text
	if text == "" || c.in.Choice != "" {
		c.menu()
		return
	}
	intent := intentOf(c.keys())
	if c.keys().has(numberPadded) {
		if intent == intentStory || intent == intentNone {
			// "cho xin so duong day nong": the numbers, and the menu.
			c.reset()
			c.s.Step = menuStep
			c.endedNumbers()
			return
		}
		c.emergency() // then the help or the report they also asked for
	}
	switch intent {
	case intentHelp:
		c.startWith(c.e.flows[helpFlowName], keepIf(tells(c.keys(), helpWords), text))
	case intentReport:
		c.startWith(c.e.flows[reportFlowName], keepIf(tells(c.keys(), reportWords), text))
	case intentStory:
		// A story told in several messages before choosing keeps all of
		// them: each is added to the words already kept.
		told := c.pendingOpener()
		c.reset()
		c.s.Opener = text
		which := "opener.which"
		if told != "" {
			c.s.Opener, which = clipRunes(told+"\n"+text, MaxStoryRunes), "opener.which_more"
		}
		c.ask(c.t(which, nil), c.choice(choiceReport, "menu.report"), c.choice(choiceHelp, "menu.help"))
		c.s.Step = menuStep
	default:
		c.menu()
	}
}

// tells reports whether a message says more than its intent ("tôi muốn báo
// tin" says nothing to keep; "tôi muốn báo tin, có người rủ em tôi đi Lào"
// does).
func tells(k keys, intentWords []string) bool {
	key := k.padded[0]
	for _, w := range intentWords {
		key = strings.ReplaceAll(key, " "+w+" ", " ")
	}
	return len(strings.Fields(key)) >= 3
}

func keepIf(ok bool, text string) string {
	if ok {
		return text
	}
	return ""
}

// pendingOpener is the story kept from earlier messages while the person has
// not yet chosen between a report and help ("" when there is none).
func (c *turn) pendingOpener() string {
	if c.s.Flow != "" || c.s.Step != menuStep {
		return ""
	}
	return c.s.Opener
}

// clipRunes cuts s to at most n runes.
func clipRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}
